//! A channel's membership history (docs/PROTOCOL.md §21): who was added, removed or left,
//! by whom, and after which message. The server's word until the signed membership log
//! (issue #17) lets clients check it.

use super::{decode, Client, Result};
use crate::protocol::v1::channels::MembershipPage;
use crate::protocol::v1::routes;

impl Client {
    /// The membership events of a channel after event `after` (0: from the first one the
    /// caller may read), at most `limit` of them; `has_more` says whether to ask again from
    /// the last one's `seq`.
    pub async fn membership_events(
        &self,
        channel_id: &str,
        after: u64,
        limit: u64,
    ) -> Result<MembershipPage> {
        let query = [("after", after), ("limit", limit)];
        decode(
            self.endpoint(routes::CHANNEL_MEMBERSHIP, [channel_id])
                .query(&query)
                .send()
                .await?,
        )
        .await
    }
}
