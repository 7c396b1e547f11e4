//! `POST /communities/{id}/uploads` and `POST /merchants/{id}/uploads` (multipart),
//! `GET /uploads/{id}`, and `GET /files/{id}` behind a signed URL.

use actix_multipart::{Multipart, MultipartError};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::extract::CurrentUser;
use crate::entities::upload;
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::state::AppState;
use crate::uploads::service;

#[derive(Serialize, ToSchema)]
pub struct UploadView {
    pub id: String,
    pub community_id: i64,
    /// image/jpeg, image/png or image/webp, as recognised from the bytes.
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// A signed URL for `<image src>`; valid for `storage.url_ttl_secs`.
    pub url: String,
    pub created_at: DateTime<Utc>,
}

fn view(state: &AppState, m: upload::Model) -> UploadView {
    UploadView {
        url: service::signed_url(state, &m.id),
        id: m.id,
        community_id: m.community_id,
        content_type: m.content_type,
        size: m.size,
        sha256: m.sha256,
        created_at: m.created_at,
    }
}

/// The multipart form of an upload: one part named `file`, and no other.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

fn too_large() -> AppError {
    AppError::new(ErrorCode::PayloadTooLarge, "图片过大，请压缩后再上传")
}

fn not_an_image() -> AppError {
    AppError::new(
        ErrorCode::UnsupportedMediaType,
        "只能上传 JPEG、PNG 或 WebP 图片",
    )
}

fn multipart_error(e: MultipartError) -> AppError {
    match e {
        MultipartError::ContentTypeMissing | MultipartError::ContentTypeIncompatible => {
            AppError::new(
                ErrorCode::UnsupportedMediaType,
                "请以 multipart/form-data 上传，图片放在 file 字段",
            )
        }
        _ => AppError::new(ErrorCode::MalformedUpload, "上传内容格式有误"),
    }
}

/// Reads the `file` part, refusing it as soon as it passes `max` bytes. Any other part is
/// refused as a JSON body's unknown field is: the form has one field.
async fn read_file(mut form: Multipart, max: usize) -> AppResult<Vec<u8>> {
    let mut image = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(multipart_error)?;
        match field.name() {
            Some("file") if image.is_none() => {}
            Some("file") => return Err(AppError::validation("file", "只能上传一个 file")),
            Some(other) => {
                return Err(AppError::validation(other, format!("不支持的字段 {other}")));
            }
            None => return Err(AppError::validation("file", "每个部分都须有名称")),
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(multipart_error)?;
            if bytes.len() + chunk.len() > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        image = Some(bytes);
    }
    image.ok_or_else(|| AppError::validation("file", "缺少 file 字段"))
}

/// POST /api/v1/communities/{community_id}/uploads — 上传社区照片
///
/// Uploads a photo for use in the community (its members). Images only, checked from the
/// bytes; larger than `storage.max_upload_bytes` is refused.
#[utoipa::path(
    operation_id = "create_upload",
    tag = "uploads",
    security(("bearer" = [])),
    params(("community_id" = i64, Path)),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = UploadView),
        (status = 400, description = "MALFORMED_UPLOAD", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 415, description = "UNSUPPORTED_MEDIA_TYPE", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{community_id}/uploads")]
pub async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let community_id = path.into_inner();
    service::may_use(&state, &user, community_id).await?;
    let (bytes, content_type, ext) = receive(&state, &req, payload).await?;
    let saved = service::save(&state, &user, community_id, None, bytes, content_type, ext).await?;
    Ok(HttpResponse::Created().json(view(&state, saved)))
}

/// POST /api/v1/merchants/{merchant_id}/uploads — 上传商家照片
///
/// A photo for the shop, e.g. for an offer.
///
/// Its staff (who need not live in the community) and those who manage it. Kept private to
/// the shop's home community like any upload, and also seen by the shop's staff and members
/// of every community it serves; an offer's photo must be one of these.
#[utoipa::path(
    operation_id = "create_merchant_upload",
    tag = "uploads",
    security(("bearer" = [])),
    params(("merchant_id" = i64, Path)),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = UploadView),
        (status = 400, description = "MALFORMED_UPLOAD", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
        (status = 415, description = "UNSUPPORTED_MEDIA_TYPE", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
#[post("/{merchant_id}/uploads")]
pub async fn create_for_merchant(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let shop = crate::merchants::service::staffed(&state, &user, path.into_inner()).await?;
    let (bytes, content_type, ext) = receive(&state, &req, payload).await?;
    let saved = service::save(
        &state,
        &user,
        shop.community_id,
        Some(shop.id),
        bytes,
        content_type,
        ext,
    )
    .await?;
    Ok(HttpResponse::Created().json(view(&state, saved)))
}

/// Reads the form's image: within the size limit, and an image by its bytes.
async fn receive(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> AppResult<(Vec<u8>, &'static str, &'static str)> {
    let max = state.settings.storage.max_upload_bytes;
    // The form's own framing is small; a body far beyond the limit is refused unread.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max + 64 * 1024) {
        return Err(too_large());
    }
    let bytes = read_file(Multipart::new(req.headers(), payload), max).await?;
    let (content_type, ext) = service::sniff_image(&bytes).ok_or_else(not_an_image)?;
    Ok((bytes, content_type, ext))
}

/// GET /api/v1/uploads/{upload_id} — 照片详情
///
/// An upload's details and a fresh signed URL (members of its community; for a shop's upload
/// also its staff and members of every community it serves; anyone signed in once it is
/// attached to something public).
#[utoipa::path(
    operation_id = "get_upload",
    tag = "uploads",
    security(("bearer" = [])),
    params(("upload_id" = String, Path)),
    responses((status = 200, body = UploadView), (status = 404, body = ErrorBody))
)]
#[get("/{upload_id}")]
pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let found = service::metadata(&state, &user, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&state, found)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Signed {
    /// Expiry, Unix seconds.
    pub e: i64,
    /// Signature.
    pub s: String,
}

/// GET /files/{upload_id} — 照片文件
///
/// The file itself, through a signed URL from an upload's `url`.
#[utoipa::path(
    operation_id = "get_file",
    tag = "uploads",
    params(("upload_id" = String, Path), Signed),
    responses(
        (status = 200, description = "The image, as recognised when it was uploaded",
            content(("image/jpeg"), ("image/png"), ("image/webp"))),
        (status = 400, description = "INVALID_PARAMETER: `e` or `s` missing or not of its type", body = ErrorBody),
        (status = 404, description = "NOT_FOUND: unknown, expired or wrongly signed", body = ErrorBody),
    )
)]
#[get("/files/{upload_id}")]
pub async fn file(
    state: web::Data<AppState>,
    path: web::Path<String>,
    signed: web::Query<Signed>,
) -> AppResult<HttpResponse> {
    let (found, bytes) =
        service::fetch_signed(&state, &path.into_inner(), signed.e, &signed.s).await?;
    Ok(HttpResponse::Ok()
        .content_type(found.content_type)
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "private, max-age=3600"))
        .body(bytes))
}

// Registration: the routes this module serves, added to the shared scope of each first path
// segment by `crate::api`.

/// `/files/{upload_id}`, outside `/api/v1`: what a signed URL points at.
pub fn root(cfg: &mut ServiceConfig) {
    cfg.service(file);
}

/// `/communities/{community_id}/uploads`.
pub fn communities_scope(cfg: &mut ServiceConfig) {
    cfg.service(create);
}

/// `/uploads/{upload_id}`.
pub fn uploads_scope(cfg: &mut ServiceConfig) {
    cfg.service(show);
}

/// `/merchants/{merchant_id}/uploads`.
pub fn merchants_scope(cfg: &mut ServiceConfig) {
    cfg.service(create_for_merchant);
}
