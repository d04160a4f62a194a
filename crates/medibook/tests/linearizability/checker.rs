//! A linearizability checker: the search of Wing and Gong ("Testing and verifying concurrent
//! objects", 1993) with the memoisation Lowe added ("Testing for linearizability", 2017), as
//! Knossos and Porcupine use it.
//!
//! A history is a set of completed operations, each with the moment it was invoked and the
//! moment its answer arrived (one clock for all clients). It is linearizable when the
//! operations can be put in one sequence that (a) keeps real-time order (an operation that
//! returned before another was invoked comes first) and (b) is a run of the sequential
//! [`Model`] that produces exactly the observed outcomes. The search linearizes one operation
//! at a time, choosing among those invoked before the earliest answer still pending, and
//! backtracks; a pair (set of operations linearized, model state) already explored is never
//! explored again, which keeps the search small for histories of a few clients.

use std::collections::HashSet;
use std::hash::Hash;
use std::time::Duration;

/// A sequential specification: a state and how each call changes it.
pub trait Model: Clone + Eq + Hash {
    /// An operation's request.
    type Call;
    /// An operation's observed result.
    type Outcome;

    /// The state after `call` is applied to this state and answers `outcome`, or `None` when the
    /// specification cannot answer `outcome` to `call` in this state.
    fn step(&self, call: &Self::Call, outcome: &Self::Outcome) -> Option<Self>;
}

/// One completed operation of a history.
#[derive(Clone, Debug)]
pub struct Operation<C, O> {
    /// Who issued it (a client issues one operation at a time).
    pub client: usize,
    /// When it was invoked, since the history began.
    pub invoked: Duration,
    /// When its answer arrived, since the history began.
    pub returned: Duration,
    /// What was asked.
    pub call: C,
    /// What was answered.
    pub outcome: O,
}

/// Why a history is not linearizable: the longest sequence of its operations (indices into the
/// history) that the search could linearize.
#[derive(Debug)]
pub struct NotLinearizable {
    /// The longest linearizable prefix found.
    pub longest_prefix: Vec<usize>,
}

/// The order in which the operations of `history` (indices) linearize from `initial`, or why
/// none does.
pub fn check<M: Model>(
    initial: &M,
    history: &[Operation<M::Call, M::Outcome>],
) -> Result<Vec<usize>, NotLinearizable> {
    let mut search = Search {
        history,
        explored: HashSet::new(),
        order: Vec::with_capacity(history.len()),
        longest: Vec::new(),
    };
    if search.extend(initial, &Linearized::new(history.len())) {
        Ok(search.order)
    } else {
        Err(NotLinearizable {
            longest_prefix: search.longest,
        })
    }
}

/// Which operations of the history have been linearized, one bit each.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Linearized {
    bits: Vec<u64>,
    count: usize,
}

impl Linearized {
    fn new(operations: usize) -> Self {
        Self {
            bits: vec![0; operations.div_ceil(64)],
            count: 0,
        }
    }

    fn contains(&self, index: usize) -> bool {
        self.bits[index / 64] & (1 << (index % 64)) != 0
    }

    fn with(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.bits[index / 64] |= 1 << (index % 64);
        next.count += 1;
        next
    }
}

struct Search<'h, M: Model> {
    history: &'h [Operation<M::Call, M::Outcome>],
    explored: HashSet<(Linearized, M)>,
    order: Vec<usize>,
    longest: Vec<usize>,
}

impl<M: Model> Search<'_, M> {
    /// Whether the operations not in `done` linearize after `state`; on success `order` holds
    /// the whole linearization.
    fn extend(&mut self, state: &M, done: &Linearized) -> bool {
        if done.count == self.history.len() {
            return true;
        }
        let pending = || (0..self.history.len()).filter(|&i| !done.contains(i));
        // Nothing invoked after a pending operation returned may come before that operation.
        let Some(first_answer) = pending().map(|i| self.history[i].returned).min() else {
            return true;
        };
        let candidates: Vec<usize> = pending()
            .filter(|&i| self.history[i].invoked <= first_answer)
            .collect();
        for index in candidates {
            let operation = &self.history[index];
            let Some(next) = state.step(&operation.call, &operation.outcome) else {
                continue;
            };
            let done = done.with(index);
            if !self.explored.insert((done.clone(), next.clone())) {
                continue;
            }
            self.order.push(index);
            if self.order.len() > self.longest.len() {
                self.longest.clone_from(&self.order);
            }
            if self.extend(&next, &done) {
                return true;
            }
            self.order.pop();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register holding one number: writes answer nothing, reads answer the value.
    #[derive(Clone, PartialEq, Eq, Hash)]
    struct Register(u8);

    enum Access {
        Write(u8),
        Read,
    }

    impl Model for Register {
        type Call = Access;
        type Outcome = Option<u8>;

        fn step(&self, call: &Access, outcome: &Option<u8>) -> Option<Self> {
            match (call, outcome) {
                (Access::Write(value), None) => Some(Self(*value)),
                (Access::Read, Some(value)) if *value == self.0 => Some(self.clone()),
                _ => None,
            }
        }
    }

    fn op(
        client: usize,
        from: u64,
        to: u64,
        call: Access,
        outcome: Option<u8>,
    ) -> Operation<Access, Option<u8>> {
        Operation {
            client,
            invoked: Duration::from_millis(from),
            returned: Duration::from_millis(to),
            call,
            outcome,
        }
    }

    #[test]
    fn a_read_overlapping_a_write_may_see_either_value() {
        for seen in [0, 1] {
            let history = [
                op(0, 0, 10, Access::Write(1), None),
                op(1, 2, 8, Access::Read, Some(seen)),
            ];
            assert!(check(&Register(0), &history).is_ok(), "reading {seen}");
        }
    }

    #[test]
    fn a_read_after_a_write_returned_must_see_it() {
        let history = [
            op(0, 0, 10, Access::Write(1), None),
            op(1, 11, 12, Access::Read, Some(0)),
        ];
        let refused = check(&Register(0), &history).unwrap_err();
        assert_eq!(refused.longest_prefix, vec![0]);
    }

    #[test]
    fn reads_may_not_see_values_go_back_and_forth() {
        // Two concurrent writes; one reader sees 1 then 2, the other 2 then 1.
        let history = [
            op(0, 0, 100, Access::Write(1), None),
            op(1, 0, 100, Access::Write(2), None),
            op(2, 10, 20, Access::Read, Some(1)),
            op(2, 30, 40, Access::Read, Some(2)),
            op(3, 10, 20, Access::Read, Some(2)),
            op(3, 30, 40, Access::Read, Some(1)),
        ];
        assert!(check(&Register(0), &history).is_err());
        // Without the second reader it is fine.
        assert!(check(&Register(0), &history[..4]).is_ok());
    }
}
