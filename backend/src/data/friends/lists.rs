//! Lists of users around a user's friendships: their friends (plain and with personas) and the
//! users recommended to them.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use super::FRIEND_IDS_SQL;
use crate::{
    data::users::{self, User},
    platform::db::{self, Executor},
};

/// `user_id`'s accepted friends, by username.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn list(db: &mut impl Executor, user_id: i64) -> db::Result<Vec<User>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let columns = users::COLUMNS_U;
        format!("select {columns} from users u where u.id in ({FRIEND_IDS_SQL}) order by u.username")
    });
    db.fetch_all(&SQL, &[(&user_id, Type::INT8)]).await
}

/// A user with their public persona's name and id, if they have one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FriendWithPersona {
    /// The friend's user id.
    pub id: i64,
    pub username: String,
    pub email: String,
    pub profile_image: Option<String>,
    pub persona_name: Option<String>,
    pub persona_id: Option<i64>,
}

crate::from_row!(FriendWithPersona { id, username, email, profile_image, persona_name, persona_id });

/// `user_id`'s accepted friends by username, each with their persona's name and id when that
/// persona is public.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn list_with_persona(db: &mut impl Executor, user_id: i64) -> db::Result<Vec<FriendWithPersona>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select u.id, u.username, u.email, u.profile_image, p.name as persona_name, p.id as persona_id \
             from users u left join personas p on p.user_id = u.id and p.is_public \
             where u.id in ({FRIEND_IDS_SQL}) order by u.username"
        )
    });
    db.fetch_all(&SQL, &[(&user_id, Type::INT8)]).await
}

/// Active users with a public persona who have no pending or accepted friendship with `user_id`
/// (either direction), newest personas first, at most `limit`.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn recommendations(db: &mut impl Executor, user_id: i64, limit: i64) -> db::Result<Vec<FriendWithPersona>> {
    db.fetch_all(
        "select u.id, u.username, u.email, u.profile_image, p.name as persona_name, p.id as persona_id \
         from personas p join users u on u.id = p.user_id \
         where p.is_public and u.is_active and u.id <> $1 and not exists ( \
             select 1 from friendships f where f.status in ('pending', 'accepted') and \
             ((f.requester_id = $1 and f.addressee_id = u.id) or (f.requester_id = u.id and f.addressee_id = $1))) \
         order by p.updated_at desc limit $2",
        &[(&user_id, Type::INT8), (&limit, Type::INT8)],
    )
    .await
}
