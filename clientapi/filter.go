package clientapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// The filter types below exist to check the shape of uploaded filters;
// the filter is stored as the client sent it.
type eventFilter struct {
	Limit      *int     `json:"limit"`
	NotSenders []string `json:"not_senders"`
	NotTypes   []string `json:"not_types"`
	Senders    []string `json:"senders"`
	Types      []string `json:"types"`
}

type roomEventFilter struct {
	eventFilter
	NotRooms                  []string `json:"not_rooms"`
	Rooms                     []string `json:"rooms"`
	ContainsURL               *bool    `json:"contains_url"`
	IncludeRedundantMembers   *bool    `json:"include_redundant_members"`
	LazyLoadMembers           *bool    `json:"lazy_load_members"`
	UnreadThreadNotifications *bool    `json:"unread_thread_notifications"`
}

type roomFilter struct {
	AccountData  *roomEventFilter `json:"account_data"`
	Ephemeral    *roomEventFilter `json:"ephemeral"`
	IncludeLeave *bool            `json:"include_leave"`
	NotRooms     []string         `json:"not_rooms"`
	Rooms        []string         `json:"rooms"`
	State        *roomEventFilter `json:"state"`
	Timeline     *roomEventFilter `json:"timeline"`
}

type syncFilter struct {
	AccountData *eventFilter `json:"account_data"`
	EventFields []string     `json:"event_fields"`
	EventFormat string       `json:"event_format"`
	Presence    *eventFilter `json:"presence"`
	Room        *roomFilter  `json:"room"`
}

// parseFilter checks that body is a filter as the spec defines it:
// M_NOT_JSON if it is not a JSON object, M_BAD_JSON if a field has the
// wrong type or value.
func parseFilter(body []byte) (*syncFilter, error) {
	var f syncFilter
	if err := mxhttp.Unmarshal(body, &f); err != nil {
		return nil, err
	}
	switch f.EventFormat {
	case "", "client", "federation":
	default:
		return nil, mxhttp.BadJSON("event_format must be client or federation")
	}
	if err := f.checkIDs(); err != nil {
		return nil, err
	}
	return &f, nil
}

// checkIDs rejects room and user lists that hold something other than
// room and user ids: such a filter would silently match nothing.
func (f *syncFilter) checkIDs() error {
	var rooms, users [][]string
	addEvent := func(e *eventFilter) {
		if e != nil {
			users = append(users, e.Senders, e.NotSenders)
		}
	}
	addRoomEvent := func(e *roomEventFilter) {
		if e != nil {
			addEvent(&e.eventFilter)
			rooms = append(rooms, e.Rooms, e.NotRooms)
		}
	}
	addEvent(f.AccountData)
	addEvent(f.Presence)
	if r := f.Room; r != nil {
		rooms = append(rooms, r.Rooms, r.NotRooms)
		for _, e := range []*roomEventFilter{r.AccountData, r.Ephemeral, r.State, r.Timeline} {
			addRoomEvent(e)
		}
	}
	for _, list := range rooms {
		for _, id := range list {
			if !strings.HasPrefix(id, "!") || len(id) < 2 {
				return mxhttp.BadJSON(fmt.Sprintf("%q is not a room id", id))
			}
		}
	}
	for _, list := range users {
		for _, id := range list {
			if _, err := spec.NewUserID(id, true); err != nil {
				return mxhttp.BadJSON(fmt.Sprintf("%q is not a user id", id))
			}
		}
	}
	return nil
}

// postFilter is POST /user/{userId}/filter.
func (s *Server) postFilter(r *http.Request, dev *userapi.Device) (any, error) {
	user, err := ownPathUser(r, dev, "create filters")
	if err != nil {
		return nil, err
	}
	body, err := readObject(r)
	if err != nil {
		return nil, err
	}
	if _, err := parseFilter(body); err != nil {
		return nil, err
	}
	id, err := s.users.PutFilter(r.Context(), user, body)
	if err != nil {
		return nil, userError(err)
	}
	return map[string]string{"filter_id": id}, nil
}

// getFilter is GET /user/{userId}/filter/{filterId}.
func (s *Server) getFilter(r *http.Request, dev *userapi.Device) (any, error) {
	user, err := ownPathUser(r, dev, "read filters")
	if err != nil {
		return nil, err
	}
	f, err := s.users.Filter(r.Context(), user, mux.Vars(r)["filterId"])
	if err != nil {
		return nil, userError(err)
	}
	return f, nil
}
