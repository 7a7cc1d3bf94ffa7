//! Every prompt the app sends, in one place and versioned (`VERSION` is stored with what the
//! prompts produce, so a prompt change is traceable). The first line of each system prompt names
//! the operation (`[dearme:persona v…]`), which is also how the dev server shapes its answers.
//! Prompts carry diary text: they are never logged.

use serde_json::{Value, json};

pub const VERSION: &str = "2026-11-22.1";

pub struct Prompt {
    pub op: &'static str,
    pub json: bool,
    pub max_tokens: u32,
    pub temperature: f32,
    system: String,
    /// Earlier turns (role, content), oldest first.
    history: Vec<(&'static str, String)>,
    user: String,
}

impl Prompt {
    fn new(op: &'static str, json: bool, max_tokens: u32, system: &str, user: String) -> Self {
        Self {
            op,
            json,
            max_tokens,
            temperature: if json { 0.4 } else { 0.8 },
            system: format!("[dearme:{op} v{VERSION}]\n{system}"),
            history: Vec::new(),
            user,
        }
    }

    pub fn messages(&self) -> Value {
        let mut messages = vec![json!({ "role": "system", "content": self.system })];
        for (role, content) in &self.history {
            messages.push(json!({ "role": role, "content": content }));
        }
        messages.push(json!({ "role": "user", "content": self.user }));
        Value::Array(messages)
    }
}

/// A diary as prompts see it.
pub struct DiaryText {
    pub date: String,
    pub title: String,
    pub content: String,
    pub mood: Option<String>,
}

fn diaries_block(diaries: &[DiaryText]) -> String {
    diaries
        .iter()
        .map(|d| format!("[{}] ({}) {}\n{}", d.date, d.mood.as_deref().unwrap_or("-"), d.title, d.content))
        .collect::<Vec<_>>()
        .join("\n\n")
}

pub fn persona(diaries: &[DiaryText]) -> Prompt {
    Prompt::new(
        "persona",
        true,
        600,
        "You build an AI persona of a diary writer from their diaries, in Korean. Answer with JSON only: \
         {\"name\": string (a short persona name), \"personality\": string (2-3 sentences), \
         \"traits\": [3-5 short trait words], \"speaking_style\": string (one sentence)}.",
        format!("Diaries, newest first:\n\n{}", diaries_block(diaries)),
    )
}

pub fn quiz_persona(trait_words: &[&str]) -> Prompt {
    Prompt::new(
        "quiz_persona",
        true,
        400,
        "You build a first, temporary AI persona of a person from their personality-quiz answers, in Korean. \
         Answer with JSON only: {\"name\": string, \"personality\": string (2 sentences), \
         \"traits\": [3-5 short trait words], \"speaking_style\": string}.",
        format!("Trait words from the quiz: {}", trait_words.join(", ")),
    )
}

pub fn analysis(diary: &DiaryText) -> Prompt {
    Prompt::new(
        "analysis",
        true,
        500,
        "You assess the writer's mental state from one diary, gently and without diagnosing. Answer with JSON only: \
         {\"emotional_stability\": 0-100, \"vitality\": 0-100, \"self_esteem\": 0-100, \"positivity\": 0-100, \
         \"social_connection\": 0-100, \"resilience\": 0-100 (higher is better, 50 neutral), \
         \"overall_status\": \"good\"|\"neutral\"|\"concerning\"|\"critical\", \
         \"feedback\": {\"status_label\": string, \"message\": string, \"encouragement\": string, \
         \"suggestion\": string, \"emoji\": one emoji}} with Korean texts.",
        diaries_block(std::slice::from_ref(diary)),
    )
}

pub fn report(kind: &str, period: &str, averages: &Value, trend: &str) -> Prompt {
    Prompt::new(
        "report",
        true,
        500,
        "You write a short mental-health report for a diary app user, in Korean, warm and practical. \
         Answer with JSON only: {\"insights\": [3 strings], \"recommendations\": [3 strings]}.",
        format!("Report: {kind} for {period}. Average scores (0-100, higher is better): {averages}. Trend: {trend}."),
    )
}

pub fn weekly_summary(diaries: &[DiaryText]) -> Prompt {
    Prompt::new(
        "weekly_summary",
        true,
        120,
        "You summarise the writer's week in one short, kind Korean sentence. Answer with JSON only: {\"summary\": string}.",
        diaries_block(diaries),
    )
}

pub fn prompt_suggestions(diaries: &[DiaryText]) -> Prompt {
    Prompt::new(
        "prompt_suggestions",
        true,
        300,
        "You suggest three diary-writing prompts in Korean that fit the writer's recent days. Answer with JSON only: \
         {\"prompts\": [{\"title\": string, \"description\": string}, x3]}.",
        diaries_block(diaries),
    )
}

/// What a chat reply knows about the persona it speaks as.
pub struct PersonaText {
    pub name: String,
    pub personality: String,
    pub traits: Vec<String>,
    pub speaking_style: Option<String>,
    pub temporary: bool,
    pub customization: Value,
}

pub fn chat(persona: &PersonaText, history: Vec<(bool, String)>, memories: &[DiaryText], message: &str) -> Prompt {
    let custom = &persona.customization;
    let mut system = format!(
        "You are {}, an AI persona built from a person's diaries. Personality: {}. Traits: {}. Speaking style: {}. \
         Answer in Korean, in at most three sentences.",
        persona.name,
        persona.personality,
        persona.traits.join(", "),
        persona.speaking_style.as_deref().unwrap_or("natural"),
    );
    if let Some(tone) = custom.get("speaking_style_tone").and_then(Value::as_str) {
        system.push_str(&format!(" Tone: {tone}."));
    }
    if custom.get("speaking_style_emoji").and_then(Value::as_bool) == Some(true) {
        system.push_str(" Use emoji.");
    }
    if !persona.temporary && !memories.is_empty() {
        system.push_str(&format!("\nMemories from the diaries:\n{}", diaries_block(memories)));
    }
    let op = if persona.temporary { "chat_temporary" } else { "chat" };
    let mut prompt = Prompt::new(op, false, 200, &system, message.to_owned());
    prompt.history =
        history.into_iter().map(|(is_user, text)| (if is_user { "user" } else { "assistant" }, text)).collect();
    prompt
}
