//! Where pages go: one SNS topic per route (docs/CONTRACTS.md (a)). Below both the intake
//! (security sources choose their route) and ownership (environments choose theirs).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    Production,
    Test,
    Security,
    Ops,
}

impl Route {
    pub const ALL: [Route; 4] = [Route::Production, Route::Test, Route::Security, Route::Ops];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Production => "production",
            Route::Test => "test",
            Route::Security => "security",
            Route::Ops => "ops",
        }
    }
}
