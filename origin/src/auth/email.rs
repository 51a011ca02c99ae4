//! Outgoing email: SMTP through lettre when `email.smtp_url` is set, otherwise an
//! outbox folder of `.eml` files (the default for local runs and tests). Either way the
//! log says that a message went out and to whom, never its token.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

pub trait Mailer: Send + Sync {
    fn send(&self, email: OutgoingEmail) -> SendFuture<'_>;
}

fn build_message(from: &str, email: &OutgoingEmail) -> Result<Message, String> {
    let from: Mailbox = from.parse().map_err(|e| format!("email.from: {e}"))?;
    let to: Mailbox = email.to.parse().map_err(|e| format!("recipient: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(email.body.clone())
        .map_err(|e| e.to_string())
}

/// Writes each message as `<outbox>/<time>-<uuid>.eml`.
pub struct OutboxMailer {
    pub dir: PathBuf,
    pub from: String,
}

impl Mailer for OutboxMailer {
    fn send(&self, email: OutgoingEmail) -> SendFuture<'_> {
        Box::pin(async move {
            let msg = build_message(&self.from, &email)?;
            tokio::fs::create_dir_all(&self.dir).await.map_err(|e| e.to_string())?;
            let name = format!("{}-{}.eml", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), uuid::Uuid::new_v4());
            let path = self.dir.join(name);
            // Messages hold reset and verification codes: readable by the server's user only.
            let (p, body) = (path.clone(), msg.formatted());
            tokio::task::spawn_blocking(move || crate::crypto::write_private(&p, &body))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            tracing::info!(to = %email.to, subject = %email.subject, path = %path.display(), "email written to outbox");
            Ok(())
        })
    }
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| e.to_string())?.build();
        Ok(Self { transport, from: from.to_string() })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, email: OutgoingEmail) -> SendFuture<'_> {
        Box::pin(async move {
            let msg = build_message(&self.from, &email)?;
            self.transport.send(msg).await.map_err(|e| e.to_string())?;
            tracing::info!(to = %email.to, subject = %email.subject, "email sent over SMTP");
            Ok(())
        })
    }
}
