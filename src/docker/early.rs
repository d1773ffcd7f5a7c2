//! Inspects begun at a network `connect`, before Docker's `start` event.
//!
//! Docker connects a starting container to its networks (a `network connect`
//! event, with the ports already published) while it holds the container's
//! lock, and takes the same lock to answer an inspect. An inspect sent at the
//! `connect` therefore answers as soon as the start is done, with the
//! container running: its route can be written without waiting for the
//! `start` event and an inspect after it. This file is the bookkeeping
//! (pure): which containers may be inspected early, which inspects are in
//! flight, and what a `start` event still needs.

use std::collections::HashMap;

/// At most this many early inspects in flight; a `start` beyond them is
/// inspected when its event comes, as without early inspects.
pub const MAX_IN_FLIGHT: usize = 8;

/// What a container's `start` event still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStart {
    /// No early inspect: inspect now.
    Inspect,
    /// An early inspect is in flight: its answer is the start's.
    Awaiting,
    /// An early inspect already answered that the container runs.
    Answered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In flight; `start_seen` once the `start` event came.
    InFlight { ticket: u64, start_seen: bool },
    /// Answered "running" before the `start` event came.
    Answered,
}

/// The early inspects of one event stream.
#[derive(Debug, Default)]
pub struct Early {
    /// Containers whose name (and labels) match, by id: learnt from `create`
    /// and `rename` events and from the listings.
    matching: HashMap<String, String>,
    state: HashMap<String, State>,
    tickets: u64,
}

impl Early {
    /// `name` is container `id`'s name now; `matches` whether havok routes it.
    pub fn learn(&mut self, id: &str, name: &str, matches: bool) {
        if matches {
            self.matching.insert(id.to_string(), name.to_string());
        } else {
            self.matching.remove(id);
            self.state.remove(id);
        }
    }

    /// The container was destroyed.
    pub fn forget(&mut self, id: &str) {
        self.matching.remove(id);
        self.state.remove(id);
    }

    /// A network `connect` of container `id`: the ticket and name of an
    /// inspect to send now, if it matches and none is in flight or answered
    /// (a container on several networks is connected to each while it
    /// starts; one inspect answers for all of them).
    pub fn connect(&mut self, id: &str) -> Option<(u64, String)> {
        let name = self.matching.get(id)?;
        if self.state.contains_key(id) || self.in_flight() >= MAX_IN_FLIGHT {
            return None;
        }
        self.tickets += 1;
        let ticket = self.tickets;
        let name = name.clone();
        self.state.insert(
            id.to_string(),
            State::InFlight {
                ticket,
                start_seen: false,
            },
        );
        Some((ticket, name))
    }

    /// Container `id`'s `start` event.
    pub fn start(&mut self, id: &str) -> OnStart {
        match self.state.get_mut(id) {
            None => OnStart::Inspect,
            Some(State::InFlight { start_seen, .. }) => {
                *start_seen = true;
                OnStart::Awaiting
            }
            Some(State::Answered) => {
                self.state.remove(id);
                OnStart::Answered
            }
        }
    }

    /// Container `id` stops serving (`die`, `stop`, a terminating `kill`,
    /// `pause`…): an inspect in flight is stale, an answer is spent.
    pub fn gone(&mut self, id: &str) {
        self.state.remove(id);
    }

    /// Early inspect `ticket` of `id` answered (`running`, or `None` when the
    /// container no longer exists): whether its answer is the container's
    /// state to hand on. Stale tickets and non-running answers before any
    /// `start` are dropped (a `start` that follows is inspected then).
    pub fn answered(&mut self, id: &str, ticket: u64, running: Option<bool>) -> bool {
        let Some(&State::InFlight {
            ticket: current,
            start_seen,
        }) = self.state.get(id)
        else {
            return false;
        };
        if current != ticket {
            return false;
        }
        match running {
            Some(true) if !start_seen => {
                self.state.insert(id.to_string(), State::Answered);
                true
            }
            Some(_) => {
                self.state.remove(id);
                start_seen || running == Some(true)
            }
            None => {
                self.state.remove(id);
                false
            }
        }
    }

    /// Early inspects in flight.
    pub fn in_flight(&self) -> usize {
        self.state
            .values()
            .filter(|s| matches!(s, State::InFlight { .. }))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// `create`/`rename` of a matching (true) or other (false) container.
        Learn(bool),
        Destroy,
        /// A network `connect`: whether an inspect is sent.
        Connect(bool),
        /// The `start` event and what it needs.
        Start(OnStart),
        Gone,
        /// The answer to the nth ticket handed out (1-based), running or
        /// not (`None`: no such container), and whether it is handed on.
        Answer(u64, Option<bool>, bool),
    }
    use Step::*;

    /// Each row: the steps of one container and what each must give.
    #[test]
    fn early_inspects_follow_the_container() {
        let cases: &[(&str, &[Step])] = &[
            (
                "answer before the start event: routed once, the start needs nothing",
                &[
                    Learn(true),
                    Connect(true),
                    Answer(1, Some(true), true),
                    Start(OnStart::Answered),
                ],
            ),
            (
                "answer after the start event: the start waits for it",
                &[
                    Learn(true),
                    Connect(true),
                    Start(OnStart::Awaiting),
                    Answer(1, Some(true), true),
                ],
            ),
            (
                "a second network's connect while in flight sends nothing",
                &[
                    Learn(true),
                    Connect(true),
                    Connect(false),
                    Answer(1, Some(true), true),
                ],
            ),
            (
                "a second network's connect after the answer, before the start event, sends nothing",
                &[
                    Learn(true),
                    Connect(true),
                    Answer(1, Some(true), true),
                    Connect(false),
                    Start(OnStart::Answered),
                ],
            ),
            (
                "a container never learnt is inspected at its start",
                &[Connect(false), Start(OnStart::Inspect)],
            ),
            (
                "a renamed-away container is not inspected early",
                &[
                    Learn(true),
                    Learn(false),
                    Connect(false),
                    Start(OnStart::Inspect),
                ],
            ),
            (
                "a destroyed container is forgotten",
                &[Learn(true), Destroy, Connect(false)],
            ),
            (
                "stopped while in flight: the answer is stale",
                &[
                    Learn(true),
                    Connect(true),
                    Start(OnStart::Awaiting),
                    Gone,
                    Answer(1, Some(true), false),
                ],
            ),
            (
                "a failed start (not running, no start event): dropped, a later start inspects",
                &[
                    Learn(true),
                    Connect(true),
                    Answer(1, Some(false), false),
                    Start(OnStart::Inspect),
                ],
            ),
            (
                "not running after the start event: handed on (the reconciler removes)",
                &[
                    Learn(true),
                    Connect(true),
                    Start(OnStart::Awaiting),
                    Answer(1, Some(false), true),
                ],
            ),
            (
                "gone before the answer came back: nothing handed on",
                &[
                    Learn(true),
                    Connect(true),
                    Answer(1, None, false),
                    Start(OnStart::Inspect),
                ],
            ),
            (
                "a connect to a running container, then a restart: the restart is inspected again",
                &[
                    Learn(true),
                    Connect(true),
                    Answer(1, Some(true), true),
                    Gone,
                    Connect(true),
                    Start(OnStart::Awaiting),
                    Answer(1, Some(true), false),
                    Answer(2, Some(true), true),
                ],
            ),
            (
                "an answered connect is spent by a stop, not carried to the next start",
                &[
                    Learn(true),
                    Connect(true),
                    Answer(1, Some(true), true),
                    Gone,
                    Start(OnStart::Inspect),
                ],
            ),
        ];
        for (what, steps) in cases {
            let mut early = Early::default();
            let mut tickets = Vec::new();
            for (i, step) in steps.iter().enumerate() {
                let at = format!("{what}: step {i} {step:?}");
                match *step {
                    Learn(matches) => early.learn("c1", "web", matches),
                    Destroy => early.forget("c1"),
                    Connect(sends) => {
                        let sent = early.connect("c1");
                        assert_eq!(sent.is_some(), sends, "{at}");
                        if let Some((ticket, name)) = sent {
                            assert_eq!(name, "web", "{at}");
                            tickets.push(ticket);
                        }
                    }
                    Start(needs) => assert_eq!(early.start("c1"), needs, "{at}"),
                    Gone => early.gone("c1"),
                    Answer(nth, running, handed) => {
                        let ticket = tickets[nth as usize - 1];
                        assert_eq!(early.answered("c1", ticket, running), handed, "{at}");
                    }
                }
            }
        }
    }

    #[test]
    fn in_flight_inspects_are_capped() {
        let mut early = Early::default();
        for i in 0..=MAX_IN_FLIGHT {
            early.learn(&format!("c{i}"), "web", true);
        }
        for i in 0..MAX_IN_FLIGHT {
            assert!(early.connect(&format!("c{i}")).is_some(), "inspect {i}");
        }
        let last = format!("c{MAX_IN_FLIGHT}");
        assert_eq!(early.connect(&last), None, "one over the cap");
        assert_eq!(early.start(&last), OnStart::Inspect);
        early.gone("c0");
        assert!(early.connect(&last).is_some(), "room again after one ended");
    }
}
