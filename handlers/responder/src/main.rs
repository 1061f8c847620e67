//! Lambda handler for the incident page reached from the links in pages: GET shows it,
//! POST acts (docs/RESPONDERS.md). Behind a function URL with auth `NONE` (the link's token
//! is the credential) and reserved concurrency, so a flood on the public URL cannot starve
//! the intake. All logic lives in the shared crate.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    klaxon::http_lambda::serve(klaxon::http_lambda::Surface::Links).await
}
