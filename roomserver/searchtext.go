package roomserver

import (
	"strings"

	"github.com/tidwall/gjson"
)

// maxSearchText bounds what one event contributes to the search column.
const maxSearchText = 8192

// searchKeys maps the event types /search covers to the content key it
// searches, as the spec's keys name them.
var searchKeys = map[string]string{
	"m.room.message": "body",
	"m.room.name":    "name",
	"m.room.topic":   "topic",
}

// SearchText is what /search matches an event's content by: the
// searched key lower-cased, or "" when the event has nothing to find.
func SearchText(evType string, content []byte) string {
	key, ok := searchKeys[evType]
	if !ok {
		return ""
	}
	text := strings.ToLower(gjson.GetBytes(content, key).String())
	if len(text) > maxSearchText {
		text = text[:maxSearchText]
	}
	return text
}
