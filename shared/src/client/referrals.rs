//! Referrals of the intervenant social (docs/SDK.md, docs/PROTOCOL.md §17): opening one
//! with its note sealed for a conversation shared with the proposed referent, listing,
//! accepting, declining, following and closing, and opening the sealed notes.

use super::{Client, Device, Result};
use crate::crypto::{Envelope, MessageContent};
use crate::protocol::v1::cases::{LocalScheme, Programme};
use crate::protocol::v1::channels::StoredMessage;
use crate::protocol::v1::referrals::{
    AcceptReferral, AdvanceReferral, DeclineReason, DeclineReferral, OpenReferral, Referral,
    ReferralConsent, ReferralList, ReferralReason, ReferralStatus,
};
use crate::protocol::v1::routes;

/// A referral before its note is sealed and it is sent.
#[derive(Debug)]
pub struct NewReferral<'a> {
    /// The client's id for it: sending the same id again is refused as a replay.
    pub client_id: &'a str,
    /// Why, from the closed list.
    pub reason: ReferralReason,
    /// The person's consent (CHARTER.md C13).
    pub consent: ReferralConsent,
    /// The programme of the case to open.
    pub programme: Programme,
    /// For the youth programme, the person's 25th birthday (unix ms).
    pub destroy_limit: Option<i64>,
    /// The local scheme of the case to open (an ACTE referral goes to the host structure).
    pub scheme: Option<LocalScheme>,
    /// The institution the person is referred to.
    pub target_institution: &'a str,
    /// The professional proposed as referent there.
    pub proposed_referent: Option<&'a str>,
    /// A short note, and the channel (shared with the proposed referent) it is sealed for.
    pub note: Option<(&'a str, &'a MessageContent)>,
}

impl Client {
    /// Opens a referral, sealing its note (if any) for the channel given with it.
    pub async fn open_referral(
        &mut self,
        device: &mut Device,
        referral: NewReferral<'_>,
    ) -> Result<Referral> {
        let note = match referral.note {
            Some((channel_id, content)) => Some(self.seal(device, channel_id, content).await?),
            None => None,
        };
        self.call_with(
            routes::REFERRAL_OPEN,
            [],
            &OpenReferral {
                client_id: referral.client_id.to_owned(),
                reason: referral.reason,
                consent: referral.consent,
                programme: referral.programme,
                destroy_limit: referral.destroy_limit,
                scheme: referral.scheme,
                target_institution: referral.target_institution.into(),
                proposed_referent: referral.proposed_referent.map(Into::into),
                note,
            },
        )
        .await
    }

    /// The referrals this account may see: sent, addressed to its institution, or (for
    /// the coordinator) every one, newest first.
    pub async fn referrals(&self) -> Result<Vec<Referral>> {
        let list: ReferralList = self.call(routes::REFERRALS, []).await?;
        Ok(list.referrals)
    }

    /// One referral.
    pub async fn referral(&self, referral_id: &str) -> Result<Referral> {
        self.call(routes::REFERRAL, [referral_id]).await
    }

    /// Accepts a referral addressed to this account's institution; the answer names the
    /// case it opened. Without a referent, the proposed one, or else this account.
    pub async fn accept_referral(
        &self,
        referral_id: &str,
        acceptance: &AcceptReferral,
    ) -> Result<Referral> {
        self.call_with(routes::REFERRAL_ACCEPT, [referral_id], acceptance)
            .await
    }

    /// Declines a referral with a reason and, optionally, a note sealed for a channel
    /// shared with the referrer.
    pub async fn decline_referral(
        &mut self,
        device: &mut Device,
        referral_id: &str,
        reason: DeclineReason,
        note: Option<(&str, &MessageContent)>,
    ) -> Result<Referral> {
        let note = match note {
            Some((channel_id, content)) => Some(self.seal(device, channel_id, content).await?),
            None => None,
        };
        self.call_with(
            routes::REFERRAL_DECLINE,
            [referral_id],
            &DeclineReferral { reason, note },
        )
        .await
    }

    /// Records that the follow-up started (`followed`), or closes the referral (`closed`).
    pub async fn advance_referral(
        &self,
        referral_id: &str,
        status: ReferralStatus,
    ) -> Result<Referral> {
        self.call_with(
            routes::REFERRAL_STATUS,
            [referral_id],
            &AdvanceReferral { status },
        )
        .await
    }

    /// Opens a referral's note (sent by the referrer) and its decline note (sent by who
    /// declined), each checked and decrypted as a message of the channel it was sealed for.
    pub async fn open_referral_notes(
        &mut self,
        device: &Device,
        referral: &Referral,
    ) -> Result<(Option<MessageContent>, Option<MessageContent>)> {
        let as_message = |sender: &str, envelope: &Envelope| StoredMessage {
            channel_id: envelope.channel_id.as_str().into(),
            seq: 0,
            sender: sender.into(),
            envelope: envelope.clone(),
            ts: referral.opened_at,
        };
        let note = match &referral.note {
            Some(envelope) => Some(
                self.open(device, &as_message(&referral.referrer, envelope))
                    .await?,
            ),
            None => None,
        };
        let decline_note = match (&referral.decline_note, &referral.decided_by) {
            (Some(envelope), Some(by)) => Some(self.open(device, &as_message(by, envelope)).await?),
            _ => None,
        };
        Ok((note, decline_note))
    }
}
