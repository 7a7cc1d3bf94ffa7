//! Request and response bodies of the persona endpoints.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::{
    data::{limits::MAX_TRAIT, personas::Persona},
    platform::http::validate::{Validate, Violations},
};

#[derive(Serialize, ToSchema)]
pub struct PersonaStatus {
    pub diary_count: i64,
    pub required_count: i64,
    pub can_generate: bool,
    pub has_persona: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdatePersona {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    pub is_public: Option<bool>,
}

impl Validate for UpdatePersona {
    fn validate(&self, v: &mut Violations) {
        v.opt_str_len("name", self.name.as_deref(), 1, Some(100));
    }
}

#[derive(Deserialize, ToSchema)]
pub struct Customize {
    pub speaking_style_tone: Option<Tone>,
    pub speaking_style_emoji: Option<bool>,
    /// At most 10 traits of at most 50 characters each.
    #[schema(schema_with = traits_schema)]
    pub personality_traits_override: Option<Vec<String>>,
    #[schema(max_length = 200)]
    pub custom_greeting: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    Formal,
    Casual,
    Cute,
}

fn traits_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(ObjectBuilder::new().schema_type(Type::String).max_length(Some(MAX_TRAIT)))
        .max_items(Some(10))
        .build()
}

impl Validate for Customize {
    fn validate(&self, v: &mut Violations) {
        if let Some(traits) = self.personality_traits_override.as_ref().filter(|t| t.len() > 10) {
            v.push(
                "personality_traits_override",
                "too_long",
                format!("List should have at most 10 items after validation, not {}", traits.len()),
                json!(traits),
                Some(json!({ "field_type": "List", "max_length": 10, "actual_length": traits.len() })),
            );
        }
        v.at(&["personality_traits_override".into()], |v| {
            for (i, t) in self.personality_traits_override.iter().flatten().enumerate() {
                v.str_len(&i.to_string(), t, 0, Some(MAX_TRAIT));
            }
        });
        v.opt_str_len("custom_greeting", self.custom_greeting.as_deref(), 0, Some(200));
    }
}

impl Customize {
    /// The keys given, as the JSON object merged into the stored customization (a key left out
    /// keeps its value; null cannot clear one).
    pub fn into_patch(self) -> Value {
        let mut patch = Map::new();
        if let Some(tone) = self.speaking_style_tone {
            patch.insert("speaking_style_tone".into(), json!(tone));
        }
        if let Some(emoji) = self.speaking_style_emoji {
            patch.insert("speaking_style_emoji".into(), json!(emoji));
        }
        if let Some(traits) = self.personality_traits_override {
            patch.insert("personality_traits_override".into(), json!(traits));
        }
        if let Some(greeting) = self.custom_greeting {
            patch.insert("custom_greeting".into(), json!(greeting));
        }
        Value::Object(patch)
    }
}

#[derive(Serialize, ToSchema)]
pub struct Generated {
    pub persona: Persona,
    pub message: String,
}
