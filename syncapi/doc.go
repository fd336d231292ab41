// Package syncapi serves what clients read as streams: /sync, /messages,
// /context, /members, /relations, and the ephemeral streams it owns
// (typing, receipts). It reads room events from the roomserver's tables,
// learns of new ones from the roomserver's output on the bus, and wakes
// long-polling /sync requests.
package syncapi
