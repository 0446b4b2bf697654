// Package hub fans job events out to watchers: the rooms behind
// GET /v1/ws (DESIGN.md §WebSocket protocol).
//
// A room is the set of connections watching one job. The hub indexes rooms by
// job id and each connection's rooms by connection, so joining, leaving and
// delivering never scan other rooms or other connections. A room holds exactly
// one store.Subscription for as long as it has at least one watcher and closes
// it as soon as the last one leaves; one goroutine per room reads that
// subscription, serialises each event to JSON once and queues the same bytes
// to every connection in the room.
//
// # Joining: no gap, no duplicate
//
// Join mirrors store.Catchup: the room's subscription exists before the
// joiner reads history. The joiner replays history after its since (paced by
// Conn.SendWait, so a long history never overflows the queue) while the room
// goroutine keeps serving the others; the joiner then goes live under the
// room's lock, filling the few events the room delivered meanwhile from a
// small ring of recent encoded events (or reading history again when they are
// not all there). From then on the room goroutine delivers it every event
// whose seq is greater than the last one it was sent, and nothing else.
//
// # Concurrency contract
//
//   - Every method of Hub is safe for concurrent use.
//   - Lock order: Hub.mu, then a room's mu. Neither is held across store I/O
//     or a Conn call that may wait (SendWait); only Conn.Send, which never
//     blocks, is called under a room's lock.
//   - The room goroutine never waits for a connection. A connection whose
//     queue is full (Send returns ErrFull) is removed from every room and
//     closed with Conn.CloseSlow (WebSocket close code 4008); it reconnects
//     with since and loses nothing. A closed connection (any other Send error)
//     is removed from the room. Neither delays nor stops delivery to the
//     others.
//   - When a room's subscription ends because the job finished, the terminal
//     event is delivered (from history if the subscription did not carry it)
//     and the room is dissolved; its connections stay open. When it ends
//     because the store dropped it as slow or its connection failed, the room
//     subscribes again (retrying with backoff) and catches its watchers up
//     from history by seq before delivering live events again. When the job is
//     gone (expired) or the store closed, each watcher is told with Conn.Drop.
//   - Close stops every room goroutine and closes their subscriptions; it does
//     not close connections.
package hub
