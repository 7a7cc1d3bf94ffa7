//! Request and response bodies of the friend endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    data::{
        friends::{FriendWithPersona, Friendship, FriendshipStatus},
        users::User,
    },
    platform::http::validate::{Validate, Violations},
};

/// A friendship with the *other* user of it filled in (requester or addressee).
#[derive(Debug, Serialize, ToSchema)]
pub struct FriendshipWithUser {
    #[serde(flatten)]
    pub friendship: Friendship,
    pub requester: Option<User>,
    pub addressee: Option<User>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FriendList {
    pub friends: Vec<User>,
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recommendations {
    pub users: Vec<FriendWithPersona>,
}

#[derive(Deserialize, ToSchema)]
pub struct FriendRequest {
    pub addressee_id: i64,
}

impl Validate for FriendRequest {
    fn validate(&self, _: &mut Violations) {}
}

/// The addressee's answer to a pending request.
#[derive(Deserialize, ToSchema)]
pub struct Respond {
    pub status: FriendshipStatus,
}

impl Validate for Respond {
    fn validate(&self, _: &mut Violations) {}
}
