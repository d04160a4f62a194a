//! The in-process event bus: committed domain events fanned out to subscribers in this process
//! (the WebSocket feed). A subscriber that falls behind loses the oldest events and is told so
//! by the channel, never slowing the publisher.

use medibook_core::events::{DomainEvent, EventBus};
use tokio::sync::broadcast;

/// Fans events out to in-process subscribers.
#[derive(Clone, Debug)]
pub struct InProcessBus {
    sender: broadcast::Sender<DomainEvent>,
}

impl InProcessBus {
    /// A bus buffering up to `capacity` events per slow subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// A new subscription, starting with the next published event.
    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.sender.subscribe()
    }
}

impl EventBus for InProcessBus {
    fn publish(&self, event: DomainEvent) {
        // No subscribers is not an error: nobody is listening right now.
        let _ = self.sender.send(event);
    }
}
