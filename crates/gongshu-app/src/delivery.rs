//! Notifications beyond the in-site inbox (R11.4): e-mail over SMTP when the platform
//! has a mail server, and webhooks for staff whose office systems take them. Each
//! notification is claimed before sending, each channel is marked once sent, and a
//! failing one is tried again up to five times.

use chrono::{DateTime, Utc};
use gongshu_core::authz::Principal;
use gongshu_core::types::Role;
use gongshu_core::{Error, ErrorCode, FieldError};
use gongshu_store::{ChannelsRow, Delivery, DeliveryOutcome};
use hmac::{Hmac, Mac};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::auth::random_secret;
use crate::{App, Result, store_error};

/// The platform's mail server (lettre's URL form): `smtps://user:pass@mail.gov.cn:465`
/// (TLS), `smtp://user:pass@mail.gov.cn:587?tls=required` (STARTTLS), or
/// `smtp://relay.intranet:25` (unencrypted, for a relay inside an intranet).
#[derive(Clone)]
pub struct SmtpSettings {
    pub url: String,
    /// The sender, e.g. `公数平台 <noreply@data.example.gov.cn>`.
    pub from: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry the account's password.
        f.debug_struct("SmtpSettings")
            .field("url", &"<redacted>")
            .field("from", &self.from)
            .finish()
    }
}

/// Where the caller gets notifications besides the inbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelsView {
    pub email: Option<String>,
    pub webhook_url: Option<String>,
    /// Whether the platform sends e-mail at all (a mail server is configured).
    pub email_available: bool,
    /// The webhook signing key, shown only when a webhook is first set or changed:
    /// `X-Gongshu-Signature: sha256=HEX(HMAC-SHA256(key, body))`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelsInput {
    /// An address, or none to stop e-mail.
    pub email: Option<String>,
    /// An `http(s)` URL (staff only), or none to stop the webhook.
    pub webhook_url: Option<String>,
}

/// What a webhook receives.
#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    id: i64,
    kind: &'a str,
    subject: &'a str,
    body: &'a str,
    link: String,
    created_at: DateTime<Utc>,
}

const MAX_ATTEMPTS: i64 = 5;

impl App {
    fn channels_view(&self, c: ChannelsRow, new_secret: Option<String>) -> ChannelsView {
        ChannelsView {
            email: c.email,
            webhook_url: c.webhook_url,
            email_available: self.settings.smtp.is_some(),
            webhook_secret: new_secret,
        }
    }

    pub async fn my_channels(&self, caller: &Principal) -> Result<ChannelsView> {
        let c = self
            .store
            .channels(caller.user_id)
            .await
            .map_err(store_error)?;
        Ok(self.channels_view(c, None))
    }

    /// Sets the caller's e-mail address and webhook. A new or changed webhook gets a new
    /// signing key, returned this once.
    pub async fn set_channels(
        &self,
        caller: &Principal,
        input: ChannelsInput,
    ) -> Result<ChannelsView> {
        let mut e = Vec::new();
        let email = input
            .email
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if let Some(addr) = &email
            && (addr.len() > 254 || addr.parse::<Mailbox>().is_err() || addr.contains(['<', '>']))
        {
            e.push(FieldError::new(
                "email",
                "format",
                "电子邮件地址格式不正确",
                "not an e-mail address",
            ));
        }
        let webhook = input
            .webhook_url
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if let Some(u) = &webhook {
            // Webhooks reach into the network the platform runs in: staff systems only,
            // never a URL a member of the public chooses.
            let staff = caller.grants.iter().any(|g| g.role != Role::Registered);
            if !staff {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    "只有政务工作人员可以设置 Webhook",
                    "Only government staff may set a webhook",
                ));
            }
            let ok = u.len() <= 2000
                && url::Url::parse(u)
                    .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some());
            if !ok {
                e.push(FieldError::new(
                    "webhook_url",
                    "format",
                    "Webhook 地址应为 http(s) 网址",
                    "the webhook is an http(s) URL",
                ));
            }
        }
        if !e.is_empty() {
            return Err(Error::validation(e));
        }
        let old = self
            .store
            .channels(caller.user_id)
            .await
            .map_err(store_error)?;
        let new_secret = (webhook.is_some() && webhook != old.webhook_url).then(random_secret);
        let saved = ChannelsRow {
            email,
            webhook_secret: match (&webhook, &new_secret) {
                (None, _) => None,
                (Some(_), Some(s)) => Some(s.clone()),
                (Some(_), None) => old.webhook_secret,
            },
            webhook_url: webhook,
        };
        self.store
            .put_channels(caller.user_id, &saved, self.now())
            .await
            .map_err(store_error)?;
        Ok(self.channels_view(saved, new_secret))
    }

    /// Sends what waits to go out by e-mail or webhook; returns how many notifications
    /// went out completely this time, and how many were given up.
    pub async fn deliver_notifications(&self) -> Result<(usize, usize)> {
        let now = self.now();
        let claimed = self
            .store
            .claim_deliveries(now, now + chrono::Duration::minutes(5), 100)
            .await
            .map_err(store_error)?;
        if claimed.is_empty() {
            return Ok((0, 0));
        }
        let mailer = match &self.settings.smtp {
            Some(s) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(&s.url)
                    .map_err(|e| {
                        tracing::error!(error = %e, "the SMTP URL is invalid");
                        Error::internal()
                    })?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build(),
            ),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| Error::internal())?;
        let mut counts = (0, 0);
        for d in claimed {
            let mut errors = Vec::new();
            let email_sent = match (&d.channels.email, &mailer, &self.settings.smtp) {
                (Some(to), Some(m), Some(s)) if !d.email_sent => {
                    match self.send_mail(m, &s.from, to, &d).await {
                        Ok(()) => true,
                        Err(e) => {
                            errors.push(format!("e-mail: {e}"));
                            false
                        }
                    }
                }
                _ => d.email_sent,
            };
            let webhook_sent = match (&d.channels.webhook_url, &d.channels.webhook_secret) {
                (Some(url), Some(key)) if !d.webhook_sent => {
                    match self.post_webhook(&http, url, key, &d).await {
                        Ok(()) => true,
                        Err(e) => {
                            errors.push(format!("webhook: {e}"));
                            false
                        }
                    }
                }
                _ => d.webhook_sent,
            };
            let error = (!errors.is_empty()).then(|| errors.join("; "));
            let delivered_now = (email_sent && !d.email_sent) || (webhook_sent && !d.webhook_sent);
            let delivery = match &error {
                None => {
                    // A recipient with no channel has nothing to be sent.
                    counts.0 += usize::from(delivered_now);
                    "done"
                }
                Some(_) if d.attempts + 1 >= MAX_ATTEMPTS => {
                    counts.1 += 1;
                    "failed"
                }
                Some(_) => "pending",
            };
            if let Some(e) = &error {
                tracing::warn!(notification = d.note.id, error = %e, "notification not delivered");
            }
            self.store
                .finish_delivery(&DeliveryOutcome {
                    id: d.note.id,
                    email_sent,
                    webhook_sent,
                    delivery,
                    error: error.as_deref(),
                    at: self.now(),
                })
                .await
                .map_err(store_error)?;
        }
        Ok(counts)
    }

    fn absolute(&self, link: &str) -> String {
        format!("{}{link}", self.settings.public_url)
    }

    async fn send_mail(
        &self,
        mailer: &AsyncSmtpTransport<Tokio1Executor>,
        from: &str,
        to: &str,
        d: &Delivery,
    ) -> std::result::Result<(), String> {
        let message = Message::builder()
            .from(from.parse().map_err(|e| format!("sender: {e}"))?)
            .to(to.parse().map_err(|e| format!("recipient: {e}"))?)
            .subject(d.note.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "{}\n\n{}\n\n—— 公数平台（本邮件由系统发送，请勿回复）",
                d.note.body,
                self.absolute(&d.note.link)
            ))
            .map_err(|e| e.to_string())?;
        mailer
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn post_webhook(
        &self,
        http: &reqwest::Client,
        url: &str,
        key: &str,
        d: &Delivery,
    ) -> std::result::Result<(), String> {
        let body = serde_json::to_vec(&WebhookBody {
            id: d.note.id,
            kind: &d.note.kind,
            subject: &d.note.subject,
            body: &d.note.body,
            link: self.absolute(&d.note.link),
            created_at: d.note.created_at,
        })
        .map_err(|e| e.to_string())?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).map_err(|e| e.to_string())?;
        mac.update(&body);
        let signature = hex::encode(mac.finalize().into_bytes());
        let resp = http
            .post(url)
            .header("content-type", "application/json")
            .header("x-gongshu-delivery", d.note.id.to_string())
            .header("x-gongshu-signature", format!("sha256={signature}"))
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", resp.status()))
        }
    }
}
