//! The gateway's own model for `label` policies: an agent may omit its proposal
//! (`"proposal": {"kind": "label", "model": "loopgate"}`) and let Loopgate propose.
//!
//! Each label policy's [`Learner`] (fold classifiers, see `loopgate_learn::learner`) learns from
//! every human label of that policy, in the order the store recorded them, so every server
//! sharing the database converges on the same models; it is saved with the id of the last
//! outcome it learned from and restored from there. Proposals come from the text's own fold
//! model, and the refit certifies thresholds on the labelled texts re-scored out of fold — the
//! same loop `loopgate simulate` runs. A conformal novelty check compares each input with the
//! texts the model was tested on just before learning them; an unusual input goes to a person
//! with the reason shown.

use std::collections::HashMap;
use std::sync::Arc;

use loopgate_core::verdict::NoveltyFinding;
use loopgate_core::{PolicyName, Timestamp, WorkspaceId};
use loopgate_learn::learner::{Label, Learner, LearnerConfig};
use loopgate_learn::risk::Outcome;
use loopgate_store::{Store, StoreError};
use tokio::sync::Mutex;

/// The model name an agent gives to let Loopgate propose.
pub const MODEL_NAME: &str = loopgate_core::EMBEDDED_MODEL;
/// New labels before a learned model is saved again: a saved model only spares a restart the
/// relearning of what the store already holds, and each save writes every fold model.
const SAVE_EVERY: usize = 1_000;

/// One policy's model.
#[derive(Debug)]
pub struct Embedded {
    learner: Learner,
    through: i64,
    unsaved: usize,
}

/// What the model proposes for one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposed {
    /// The label, `None` before the model learned anything.
    pub label: Option<String>,
    /// Its probability.
    pub probability: f64,
    /// Set when the input is unlike what the model was tested on.
    pub novelty: Option<NoveltyFinding>,
}

/// A loaded model, shared by the requests that use it.
type Shared = Arc<Mutex<Embedded>>;

/// Every label policy's model, loaded on first use.
#[derive(Debug, Default)]
pub struct Models {
    loaded: std::sync::Mutex<HashMap<(WorkspaceId, PolicyName), Shared>>,
}

impl Models {
    async fn get(
        &self,
        store: &dyn Store,
        ws: &WorkspaceId,
        policy: &PolicyName,
    ) -> Result<Arc<Mutex<Embedded>>, StoreError> {
        let key = (ws.clone(), policy.clone());
        if let Some(m) = self.loaded.lock().expect("models mutex poisoned").get(&key) {
            return Ok(m.clone());
        }
        let restored = match store.model(ws, policy).await? {
            Some((bytes, through)) => match Learner::from_bytes(&bytes) {
                Ok(learner) => Some((learner, through)),
                Err(e) => {
                    tracing::warn!(error = %e, %policy, "a saved model does not load; relearning from every label");
                    None
                }
            },
            None => None,
        };
        let (learner, through) = match restored {
            Some(r) => r,
            None => (
                Learner::new(LearnerConfig::default())
                    .map_err(|e| StoreError::Internal(e.to_string()))?,
                0,
            ),
        };
        let model = Arc::new(Mutex::new(Embedded {
            learner,
            through,
            unsaved: 0,
        }));
        Ok(self
            .loaded
            .lock()
            .expect("models mutex poisoned")
            .entry(key)
            .or_insert(model)
            .clone())
    }

    /// Learns every label recorded since the model last looked.
    async fn catch_up(
        store: &dyn Store,
        ws: &WorkspaceId,
        policy: &PolicyName,
        m: &mut Embedded,
    ) -> Result<(), StoreError> {
        loop {
            let page = store.outcomes(ws, policy, m.through, 1_000).await?;
            let Some(last) = page.last().map(|o| o.id) else {
                return Ok(());
            };
            for o in page {
                if let (Some(text), Some(label)) = (o.text, o.label) {
                    m.learner.learn(Label {
                        text,
                        label,
                        representative: o.representative,
                    });
                    m.unsaved += 1;
                }
            }
            m.through = last;
        }
    }

    /// The model's proposal for `text` under `policy`, after learning every recorded label.
    pub async fn propose(
        &self,
        store: &dyn Store,
        ws: &WorkspaceId,
        policy: &PolicyName,
        text: &str,
    ) -> Result<Proposed, StoreError> {
        let model = self.get(store, ws, policy).await?;
        let mut m = model.lock().await;
        Self::catch_up(store, ws, policy, &mut m).await?;
        let prediction = m.learner.predict(text);
        let level = m.learner.config().novelty.level;
        let p_value = m.learner.novelty_p_value(text);
        Ok(Proposed {
            label: prediction.as_ref().map(|p| p.label.clone()),
            probability: prediction.map_or(0.0, |p| p.probability),
            novelty: (p_value <= level).then_some(NoveltyFinding { p_value, level }),
        })
    }

    /// The policy's representative labels re-scored out of fold by its current models, after
    /// learning every recorded label: what the bound certifies the embedded model's proposals on.
    pub async fn out_of_fold(
        &self,
        store: &dyn Store,
        ws: &WorkspaceId,
        policy: &PolicyName,
    ) -> Result<Vec<Outcome>, StoreError> {
        let model = self.get(store, ws, policy).await?;
        let mut m = model.lock().await;
        Self::catch_up(store, ws, policy, &mut m).await?;
        Ok(m.learner.out_of_fold())
    }

    /// Saves every model that learned at least [`SAVE_EVERY`] labels since it was last saved
    /// (every model that learned anything, with `all`, as at shutdown).
    pub async fn save(
        &self,
        store: &dyn Store,
        now: Timestamp,
        all: bool,
    ) -> Result<(), StoreError> {
        let loaded: Vec<_> = self
            .loaded
            .lock()
            .expect("models mutex poisoned")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for ((ws, policy), model) in loaded {
            let mut m = model.lock().await;
            Self::catch_up(store, &ws, &policy, &mut m).await?;
            if m.unsaved > 0 && (all || m.unsaved >= SAVE_EVERY) {
                store
                    .put_model(&ws, &policy, m.learner.to_bytes(), m.through, now)
                    .await?;
                m.unsaved = 0;
            }
        }
        Ok(())
    }
}
