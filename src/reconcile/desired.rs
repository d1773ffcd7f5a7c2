//! The desired state: Docker's updates folded in, each container judged by
//! the model and the readiness gate, warned about once when refused.

use std::collections::BTreeSet;

use super::Reconciler;
use crate::docker::DockerUpdate;
use crate::ids::RouteKey;
use crate::metrics::ActionLabel;
use crate::model::{route_container, Container, RouteTable, Verdict};
use crate::probe::Answered;

impl Reconciler {
    /// Folds Docker updates into the desired state; true when a listing came.
    pub(super) fn absorb(&mut self, batch: Vec<DockerUpdate>) -> bool {
        let mut full = false;
        for update in batch {
            match update {
                DockerUpdate::Listing(containers) => {
                    full = true;
                    self.have_listing = true;
                    self.containers.clear();
                    let ids: BTreeSet<String> = containers.iter().map(|c| c.id.clone()).collect();
                    self.refused.retain(|id, _| ids.contains(id));
                    self.gate.retain(&ids);
                    for c in containers {
                        self.metrics
                            .docker_events
                            .get_or_create(&ActionLabel {
                                action: "list".into(),
                            })
                            .inc();
                        self.judge(&c);
                    }
                }
                DockerUpdate::Changed(c) => {
                    self.touch(&c.id);
                    self.metrics
                        .docker_events
                        .get_or_create(&ActionLabel {
                            action: "change".into(),
                        })
                        .inc();
                    self.judge(&c);
                    self.touch(&c.id);
                }
                DockerUpdate::Gone { id, reason } => {
                    self.touch(&id);
                    self.metrics
                        .docker_events
                        .get_or_create(&ActionLabel {
                            action: reason.clone(),
                        })
                        .inc();
                    self.containers.remove(&id);
                    self.refused.remove(&id);
                    self.gate.gone(&id, &reason);
                }
            }
        }
        full
    }

    /// A probe answered: true when its server is now ready to be written.
    pub(super) fn answered(&mut self, answer: &Answered) -> bool {
        let wanted = self.gate.answered(answer);
        if wanted {
            self.touch(&answer.container);
        }
        wanted
    }

    /// Marks the routes container `id` is on now as touched: called before
    /// and after a change, so the routes it left are planned too.
    fn touch(&mut self, id: &str) {
        if let Some(routes) = self.containers.get(id) {
            self.touched
                .extend(routes.iter().map(|(spec, _)| spec.key.clone()));
        }
    }

    /// Runs the model on one container and keeps its servers (or warns once).
    pub(super) fn judge(&mut self, c: &Container) {
        if self.gate.is_stopping(c) {
            tracing::debug!(container = %c.name, "told to stop: not routed while it drains");
            self.containers.remove(&c.id);
            return;
        }
        let verdict = match route_container(c, &self.settings.rules, &self.settings.node) {
            Verdict::Routed(routes) => match self.gate.admit(c, &self.settings.rules, &routes) {
                Ok(()) => Verdict::Routed(routes),
                Err(refusal) => Verdict::Refused(refusal),
            },
            Verdict::RoutedWithWarning(routes, why) => {
                match self.gate.admit(c, &self.settings.rules, &routes) {
                    Ok(()) => Verdict::RoutedWithWarning(routes, why),
                    Err(refusal) => Verdict::Refused(refusal),
                }
            }
            other => other,
        };
        match verdict {
            Verdict::Routed(routes) => {
                self.refused.remove(&c.id);
                self.containers.insert(c.id.clone(), routes);
            }
            Verdict::RoutedWithWarning(routes, refusal) => {
                let text = refusal.to_string();
                if self.refused.get(&c.id) != Some(&text) {
                    tracing::warn!(container = %c.name, "routed, with a warning: {text}");
                    self.refused.insert(c.id.clone(), text);
                }
                self.containers.insert(c.id.clone(), routes);
            }
            Verdict::Ignored(why) => {
                tracing::debug!(container = %c.name, why, "not routed");
                self.containers.remove(&c.id);
                self.gate.forget(&c.id);
            }
            Verdict::Refused(refusal) => {
                let text = refusal.to_string();
                if self.refused.get(&c.id) != Some(&text) {
                    tracing::warn!(container = %c.name, "not routed: {text}");
                    self.refused.insert(c.id.clone(), text);
                }
                self.containers.remove(&c.id);
                self.gate.forget(&c.id);
            }
        }
    }

    /// The routes of every routed container whose server is ready.
    pub(super) fn desired(&self) -> RouteTable {
        self.desired_where(|_| true)
    }

    /// The same, for only the routes in `keys`.
    pub(super) fn desired_within(&self, keys: &BTreeSet<RouteKey>) -> RouteTable {
        self.desired_where(|key| keys.contains(key))
    }

    fn desired_where(&self, wanted: impl Fn(&RouteKey) -> bool) -> RouteTable {
        let gate = &self.gate;
        let wanted = &wanted;
        RouteTable::build(self.containers.iter().flat_map(|(id, routes)| {
            routes
                .iter()
                .filter(move |(spec, s)| wanted(&spec.key) && gate.is_ready(id, &s.url))
        }))
    }
}
