//! Photo uploads: images only (JPEG, PNG, WebP, recognised from their bytes), kept in storage,
//! described in the database, private to their community unless attached to something public.
//! Files are fetched through short-lived signed URLs, which an `<image>` tag can use without a
//! token and which cannot be guessed or altered to reach another file.

pub mod routes;
pub mod service;
