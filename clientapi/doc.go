// Package clientapi serves /_matrix/client/*: routing, request validation,
// user-interactive auth and the handlers that turn client requests into
// calls on the userapi and roomserver APIs. Sync-shaped endpoints (/sync,
// /messages, /context, typing, receipts) belong to syncapi.
package clientapi
