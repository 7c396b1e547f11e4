//! 405 for a known path asked with a method it does not have. The paths and their methods are
//! read from the OpenAPI document, which is built from the same registrations as the router,
//! so the two cannot disagree about what exists.

use actix_web::http::Method;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::PathItem;

/// Every documented path template with the methods it answers.
pub struct KnownPaths {
    templates: Vec<Template>,
}

struct Template {
    /// `None` for a `{parameter}` segment, which matches any one non-empty segment.
    segments: Vec<Option<String>>,
    methods: Vec<Method>,
}

impl Template {
    fn matches(&self, path: &str) -> bool {
        let mut given = path.strip_prefix('/').unwrap_or(path).split('/');
        let mut wanted = self.segments.iter();
        loop {
            match (wanted.next(), given.next()) {
                (None, None) => return true,
                (Some(None), Some(segment)) if !segment.is_empty() => {}
                (Some(Some(literal)), Some(segment)) if literal == segment => {}
                _ => return false,
            }
        }
    }
}

fn methods_of(item: &PathItem) -> Vec<Method> {
    [
        (Method::GET, item.get.is_some()),
        (Method::HEAD, item.head.is_some()),
        (Method::POST, item.post.is_some()),
        (Method::PUT, item.put.is_some()),
        (Method::PATCH, item.patch.is_some()),
        (Method::DELETE, item.delete.is_some()),
        (Method::OPTIONS, item.options.is_some()),
        (Method::TRACE, item.trace.is_some()),
    ]
    .into_iter()
    .filter_map(|(method, present)| present.then_some(method))
    .collect()
}

impl KnownPaths {
    pub fn from_document(document: &OpenApi) -> Self {
        let templates = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| Template {
                segments: path
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| {
                        let parameter = s.starts_with('{') && s.ends_with('}');
                        (!parameter).then(|| s.to_owned())
                    })
                    .collect(),
                methods: methods_of(item),
            })
            .collect();
        Self { templates }
    }

    /// The methods the path answers, or None when no documented path has this shape.
    pub fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        let mut allowed: Vec<Method> = Vec::new();
        for template in self.templates.iter().filter(|t| t.matches(path)) {
            for method in &template.methods {
                if !allowed.contains(method) {
                    allowed.push(method.clone());
                }
            }
        }
        (!allowed.is_empty()).then_some(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_segment_by_segment() {
        let known = KnownPaths::from_document(&crate::openapi::document());
        let allowed = |p: &str| {
            known
                .allowed(p)
                .map(|m| m.iter().map(Method::to_string).collect::<Vec<_>>())
        };
        assert_eq!(
            allowed("/api/v1/districts"),
            Some(vec!["GET".into(), "POST".into()])
        );
        assert_eq!(
            allowed("/api/v1/wishes/12/claim"),
            Some(vec!["POST".into()])
        );
        assert_eq!(
            allowed("/api/v1/me"),
            Some(vec!["GET".into(), "PATCH".into(), "DELETE".into()])
        );
        assert_eq!(allowed("/api/v1/wishes//claim"), None);
        assert_eq!(allowed("/api/v1/wishes/12/claim/more"), None);
        assert_eq!(allowed("/api/v1/nothing"), None);
        assert_eq!(allowed("/"), None);
    }
}
