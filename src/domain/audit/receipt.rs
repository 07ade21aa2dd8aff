//! What a request stored, for its audit event, even when the client hung up
//! first: ingest finishes in a task of its own, and reports here.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

/// The package an upload stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPackage {
    pub id: i64,
    pub file_name: String,
    pub sha1: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Progress {
    /// Nothing is being stored.
    #[default]
    Idle,
    Storing,
    Settled(Option<StoredPackage>),
}

/// Shared by a request's audit event and the work the request started.
#[derive(Clone, Default)]
pub struct Receipt(Arc<watch::Sender<Progress>>);

tokio::task_local! {
    static RECEIPT: Receipt;
}

impl Receipt {
    /// Runs `f` with this receipt as the current one.
    pub async fn scope<F: Future>(&self, f: F) -> F::Output {
        RECEIPT.scope(self.clone(), f).await
    }

    /// The current request's receipt, if any.
    pub fn current() -> Option<Self> {
        RECEIPT.try_with(Clone::clone).ok()
    }

    /// `f` with the current receipt, if any, as its own: for work a request
    /// hands to a task of its own (task-locals do not follow `tokio::spawn`).
    pub fn carry<F: Future>(f: F) -> impl Future<Output = F::Output> {
        let current = Self::current();
        async move {
            match current {
                Some(receipt) => receipt.scope(f).await,
                None => f.await,
            }
        }
    }

    /// Something is about to be stored; the returned guard settles the
    /// receipt when it is dropped, with what `Storing::stored` says (nothing,
    /// unless told otherwise: a failure, a panic).
    pub fn storing(&self) -> Storing {
        self.0.send_replace(Progress::Storing);
        Storing {
            receipt: self.clone(),
            stored: None,
        }
    }

    /// What was stored, once settled.
    pub fn stored(&self) -> Option<StoredPackage> {
        match &*self.0.borrow() {
            Progress::Settled(stored) => stored.clone(),
            _ => None,
        }
    }

    /// Whether storing is under way.
    pub fn is_storing(&self) -> bool {
        *self.0.borrow() == Progress::Storing
    }

    /// What was stored, waiting for storing under way to end.
    pub async fn settled(&self) -> Option<StoredPackage> {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`: waiting cannot fail.
        let progress = rx.wait_for(|p| *p != Progress::Storing).await.ok()?;
        match &*progress {
            Progress::Settled(stored) => stored.clone(),
            _ => None,
        }
    }
}

/// Storing under way; settles its receipt when dropped.
pub struct Storing {
    receipt: Receipt,
    stored: Option<StoredPackage>,
}

impl Storing {
    pub fn stored(&mut self, package: StoredPackage) {
        self.stored = Some(package);
    }
}

impl Drop for Storing {
    fn drop(&mut self) {
        self.receipt
            .0
            .send_replace(Progress::Settled(self.stored.take()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_receipt_settles_even_when_the_request_is_gone() {
        let receipt = Receipt::default();
        assert!(Receipt::current().is_none());
        let storing = receipt
            .scope(async { Receipt::current().expect("in scope").storing() })
            .await;
        assert!(receipt.is_storing());
        let carried = receipt
            .scope(async {
                tokio::spawn(Receipt::carry(async { Receipt::current().is_some() })).await
            })
            .await;
        assert!(carried.unwrap(), "carried into a task");
        let waiting = tokio::spawn({
            let receipt = receipt.clone();
            async move { receipt.settled().await }
        });
        let task = tokio::spawn(async move {
            let mut storing = storing;
            storing.stored(StoredPackage {
                id: 7,
                file_name: "a.sh".into(),
                sha1: "00".into(),
            });
        });
        task.await.unwrap();
        assert_eq!(waiting.await.unwrap().map(|p| p.id), Some(7));
        assert_eq!(receipt.stored().map(|p| p.id), Some(7));

        // A failure (or a panic) settles it with nothing.
        let failed = Receipt::default();
        drop(failed.storing());
        assert_eq!(failed.settled().await, None);
    }
}
