// Package claimtemplate renders the mapping templates of oidc_providers
// (localpart_template, display_name_template, email_template) from an
// identity provider's claims. It understands the part of Synapse's Jinja
// templates that mapping needs, {{ user.claim }} with filters, and
// refuses everything else when the template is parsed, so that a config
// the server accepts renders as the operator expects.
package claimtemplate
