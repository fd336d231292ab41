// A real client for TestSlidingSyncMatrixJSSDK: matrix-js-sdk's SlidingSync
// (the simplified MSC4186 endpoint) against a rohrpost started by the Go
// test. Environment: JSSDK_DIR (where matrix-js-sdk is installed),
// BASE_URL, USER, PASSWORD, ROOM (the room another user writes to), BODY
// (the message to wait for). Protocol on stdout, one JSON line each:
//   {"ready": {...}}   after the first answer: the Go test then sends BODY
//   {"result": {...}}  when BODY arrived, then the script exits 0
// Errors go to stderr with exit status 1.
import { pathToFileURL } from "node:url";
import path from "node:path";

const env = (k) => {
	const v = process.env[k];
	if (!v) throw new Error(`${k} is not set`);
	return v;
};
// Node 18 (Debian 12's) has Web Crypto only under node:crypto.
if (!globalThis.crypto) globalThis.crypto = (await import("node:crypto")).webcrypto;

const sdkDir = path.join(env("JSSDK_DIR"), "node_modules", "matrix-js-sdk", "lib");
const sdk = await import(pathToFileURL(path.join(sdkDir, "index.js")).href);
const ss = await import(pathToFileURL(path.join(sdkDir, "sliding-sync.js")).href);
const { logger } = await import(pathToFileURL(path.join(sdkDir, "logger.js")).href);
logger.setLevel("warn");

const baseUrl = env("BASE_URL");
const room = env("ROOM");
const body = env("BODY");
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const fail = (err) => {
	process.stderr.write(`sliding.mjs: ${err && err.stack ? err.stack : err}\n`);
	process.exit(1);
};
setTimeout(() => fail("timed out"), 60000).unref();

try {
	// Log in with the password, as Element X does.
	const anon = sdk.createClient({ baseUrl });
	const versions = await anon.getVersions();
	if (!versions.unstable_features || !versions.unstable_features["org.matrix.simplified_msc3575"]) {
		fail("/versions does not advertise org.matrix.simplified_msc3575");
	}
	const login = await anon.login("m.login.password", {
		identifier: { type: "m.id.user", user: env("USER") },
		password: env("PASSWORD"),
		initial_device_display_name: "matrix-js-sdk SlidingSync test",
	});
	const client = sdk.createClient({ baseUrl, accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id });

	// Element X's room list: the first 20 rooms by recent activity, one
	// event each, the state a room list shows, spaces left out.
	const requiredState = [
		["m.room.encryption", ""], ["m.room.member", "$LAZY"], ["m.room.member", "$ME"], ["m.room.name", ""],
		["m.room.canonical_alias", ""], ["m.room.power_levels", ""], ["m.room.join_rules", ""], ["m.room.topic", ""],
		["m.room.avatar", ""], ["m.room.create", ""], ["m.room.tombstone", ""], ["m.room.history_visibility", ""],
		["m.room.pinned_events", ""], ["m.call.member", "*"], ["m.space.child", "*"], ["m.space.parent", "*"],
	];
	const lists = new Map([["all_rooms", {
		ranges: [[0, 19]], timeline_limit: 1, required_state: requiredState,
		filters: { not_room_types: ["m.space"] },
	}]]);
	const sub = { timeline_limit: 20, required_state: [["*", "*"]] };
	const sync = new ss.SlidingSync(baseUrl, lists, sub, client, 10000);

	const rooms = {}; // room id -> what the client learnt
	let responses = 0;
	let opened = false;
	let got = null;
	sync.on(ss.SlidingSyncEvent.RoomData, (roomId, data) => {
		const r = (rooms[roomId] ??= { name: "", bodies: [], state_types: [], initial: [] });
		if (data.name) r.name = data.name;
		r.initial.push(!!data.initial);
		for (const ev of data.required_state) {
			if (!r.state_types.includes(ev.type)) r.state_types.push(ev.type);
		}
		for (const ev of data.timeline) {
			if (ev.type === "m.room.message") r.bodies.push(ev.content.body);
			if (roomId === room && ev.type === "m.room.message" && ev.content.body === body && !got) {
				got = { room_id: roomId, sender: ev.sender, event_id: ev.event_id, body: ev.content.body,
					initial: !!data.initial, num_live: data.num_live, bump_stamp: data.bump_stamp };
			}
		}
		if (roomId === room && opened && data.timeline.length > 1) {
			r.opened_timeline = data.timeline.filter((e) => e.type === "m.room.message").map((e) => e.content.body);
		}
	});
	sync.on(ss.SlidingSyncEvent.Lifecycle, (state, resp, err) => {
		if (err) {
			process.stderr.write(`sliding sync error: ${err.httpStatus} ${err.message}\n`);
			return;
		}
		if (state !== ss.SlidingSyncState.Complete) return;
		responses++;
		if (responses === 1) {
			out({ ready: { pos: resp.pos, count: sync.getListData("all_rooms").joinedCount, rooms: JSON.parse(JSON.stringify(rooms)) } });
			return;
		}
		if (got && !opened) {
			// Open the room, as Element X does: a subscription with a
			// longer timeline.
			opened = true;
			sync.modifyRoomSubscriptions(new Set([room]));
			return;
		}
		if (got && opened && rooms[room].opened_timeline) {
			out({ result: { message: got, count: sync.getListData("all_rooms").joinedCount, responses,
				rooms: rooms } });
			sync.stop();
			client.stopClient();
			process.exit(0);
		}
	});
	sync.start().catch(fail);
} catch (err) {
	fail(err);
}
