//! The profile update's request shape.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    data::{limits::MAX_URL, users::ProfileChange},
    platform::http::{
        extract::nullable,
        validate::{Validate, Violations},
    },
};

#[derive(Deserialize, ToSchema)]
pub struct UpdateMe {
    #[schema(min_length = 2, max_length = 50)]
    username: Option<String>,
    /// An image URL; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(max_length = 2048)]
    profile_image: Option<Option<String>>,
    rag_context_level: Option<RagContextLevel>,
}

impl UpdateMe {
    /// The change to store: each given field replaces the stored one (`profile_image: null`
    /// clears it).
    pub fn change(&self) -> ProfileChange<'_> {
        ProfileChange {
            username: self.username.as_deref(),
            profile_image: self.profile_image.as_ref().map(Option::as_deref),
            rag_context_level: self.rag_context_level.map(RagContextLevel::as_str),
        }
    }
}

impl Validate for UpdateMe {
    fn validate(&self, v: &mut Violations) {
        v.opt_str_len("username", self.username.as_deref(), 2, Some(50));
        v.opt_str_len("profile_image", self.profile_image.as_ref().and_then(Option::as_deref), 0, Some(MAX_URL));
    }
}

/// How many diary memories a persona's chats may draw on.
#[derive(Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
enum RagContextLevel {
    Minimal,
    Standard,
    Detailed,
}

impl RagContextLevel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Minimal => "minimal",
            Self::Standard => "standard",
            Self::Detailed => "detailed",
        }
    }
}
