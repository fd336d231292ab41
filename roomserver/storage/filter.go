package storage

import (
	"fmt"
	"strings"
)

// EventFilter narrows room event queries the way a client's RoomEventFilter
// does, so that a limit counts only events the client wants.
type EventFilter struct {
	Types      *[]string
	NotTypes   []string
	Senders    *[]string
	NotSenders []string
	// ContainsURL, when set, keeps only events with (or without) content.url.
	ContainsURL *bool
}

// where appends the filter's conditions to a query whose arguments so far
// are args, and returns the SQL and the new arguments.
func (f *EventFilter) where(args []any) (string, []any) {
	if f == nil {
		return "", args
	}
	var b strings.Builder
	param := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	typeMatch := func(pattern string) string {
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
			return "type LIKE " + param(likePrefix(prefix)) + " ESCAPE '\\'"
		}
		return "type = " + param(pattern)
	}
	if f.Types != nil {
		if len(*f.Types) == 0 {
			b.WriteString(" AND 1 = 0")
		} else {
			parts := make([]string, len(*f.Types))
			for i, t := range *f.Types {
				parts[i] = typeMatch(t)
			}
			b.WriteString(" AND (" + strings.Join(parts, " OR ") + ")")
		}
	}
	for _, t := range f.NotTypes {
		b.WriteString(" AND NOT (" + typeMatch(t) + ")")
	}
	if f.Senders != nil {
		if len(*f.Senders) == 0 {
			b.WriteString(" AND 1 = 0")
		} else {
			parts := make([]string, len(*f.Senders))
			for i, s := range *f.Senders {
				parts[i] = param(s)
			}
			b.WriteString(" AND sender IN (" + strings.Join(parts, ", ") + ")")
		}
	}
	for _, s := range f.NotSenders {
		b.WriteString(" AND sender != " + param(s))
	}
	if f.ContainsURL != nil {
		if *f.ContainsURL {
			b.WriteString(" AND has_url = 1")
		} else {
			b.WriteString(" AND has_url = 0")
		}
	}
	return b.String(), args
}

func likePrefix(prefix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(prefix) + "%"
}
