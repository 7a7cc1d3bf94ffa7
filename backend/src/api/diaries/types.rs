//! The diary endpoints' request bodies, query strings and list responses, with their validation.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    data::{
        diaries::{Diary, DiaryChanges, NewDiary},
        diary_access::DiaryAccess,
        limits::MAX_DIARY_CONTENT,
    },
    platform::http::{
        extract::nullable,
        page,
        validate::{Validate, Violations},
    },
};

#[derive(Deserialize, ToSchema)]
pub struct CreateDiary {
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    #[schema(min_length = 1, max_length = 20000)]
    content: String,
    #[schema(max_length = 50)]
    mood: Option<String>,
    #[schema(max_length = 50)]
    weather: Option<String>,
    pub diary_date: NaiveDate,
    /// Absent: `self`.
    visibility: Option<Visibility>,
}

/// Who may read a diary through an LLM (`data::diaries::Audience` enforces it in SQL).
#[derive(Deserialize, Clone, Copy, ToSchema)]
pub enum Visibility {
    /// Never sent to any LLM: no persona, analysis, summary or chat reads it.
    #[serde(rename = "private")]
    Private,
    /// The owner's own persona, chats and analyses (the default).
    #[serde(rename = "self")]
    Owner,
    /// Also a friend's chat with the owner's persona.
    #[serde(rename = "friends")]
    Friends,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Owner => "self",
            Self::Friends => "friends",
        }
    }
}

impl CreateDiary {
    pub fn as_new(&self) -> NewDiary<'_> {
        NewDiary {
            title: &self.title,
            content: &self.content,
            mood: self.mood.as_deref(),
            weather: self.weather.as_deref(),
            diary_date: self.diary_date,
            visibility: self.visibility.map(Visibility::as_str),
        }
    }
}

impl Validate for CreateDiary {
    fn validate(&self, v: &mut Violations) {
        v.str_len("title", &self.title, 1, Some(200));
        v.str_len("content", &self.content, 1, Some(MAX_DIARY_CONTENT));
        v.opt_str_len("mood", self.mood.as_deref(), 0, Some(50));
        v.opt_str_len("weather", self.weather.as_deref(), 0, Some(50));
    }
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateDiary {
    #[schema(min_length = 1, max_length = 200)]
    title: Option<String>,
    #[schema(min_length = 1, max_length = 20000)]
    content: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(max_length = 50)]
    mood: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(max_length = 50)]
    weather: Option<Option<String>>,
    visibility: Option<Visibility>,
}

impl UpdateDiary {
    pub fn as_changes(&self) -> DiaryChanges<'_> {
        DiaryChanges {
            title: self.title.as_deref(),
            content: self.content.as_deref(),
            mood: self.mood.as_ref().map(Option::as_deref),
            weather: self.weather.as_ref().map(Option::as_deref),
            visibility: self.visibility.map(Visibility::as_str),
        }
    }
}

impl Validate for UpdateDiary {
    fn validate(&self, v: &mut Violations) {
        v.opt_str_len("title", self.title.as_deref(), 1, Some(200));
        v.opt_str_len("content", self.content.as_deref(), 1, Some(MAX_DIARY_CONTENT));
        v.opt_str_len("mood", self.mood.as_ref().and_then(Option::as_deref), 0, Some(50));
        v.opt_str_len("weather", self.weather.as_ref().and_then(Option::as_deref), 0, Some(50));
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[serde(default = "page::first")]
    #[param(minimum = 1)]
    pub page: i64,
    #[serde(default = "page::ten")]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: i64,
    #[param(max_length = 50)]
    pub mood: Option<String>,
}

impl Validate for ListQuery {
    fn validate(&self, v: &mut Violations) {
        page::validate(v, self.page, self.per_page, 100);
        v.opt_str_len("mood", self.mood.as_deref(), 0, Some(50));
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DiaryPage {
    pub items: Vec<Diary>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Count {
    pub count: i64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    #[param(minimum = 2020, maximum = 2100)]
    pub year: i64,
    #[param(minimum = 1, maximum = 12)]
    pub month: i64,
}

impl Validate for CalendarQuery {
    fn validate(&self, v: &mut Violations) {
        v.range("year", self.year, 2020, Some(2100));
        v.range("month", self.month, 1, Some(12));
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    #[serde(default)]
    #[param(minimum = 0)]
    pub skip: i64,
    #[serde(default = "page::twenty")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: i64,
}

impl Validate for AccessLogQuery {
    fn validate(&self, v: &mut Violations) {
        v.range("skip", self.skip, 0, None);
        v.range("limit", self.limit, 1, Some(100));
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccessLog {
    pub items: Vec<DiaryAccess>,
    pub total: i64,
}
