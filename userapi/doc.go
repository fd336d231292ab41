// Package userapi owns local accounts and everything that hangs off them:
// devices and access tokens, passwords, profiles, account data, filters,
// and admin flags. Other components reach it through API, in process or
// over NATS request/reply.
package userapi
