//! Lambda handler for the responders' JSON API (docs/RESPONDERS.md, "The API"), behind a
//! function URL with auth `AWS_IAM`: the actor is the caller's verified IAM principal. All
//! logic lives in the shared crate.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    klaxon::http_lambda::serve(klaxon::http_lambda::Surface::Api).await
}
