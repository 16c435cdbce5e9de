import assert from "node:assert/strict";
import type { Disconnect } from "../../src/core/disconnect.ts";
import { compareLogins, HybridClock } from "../../src/core/login_clock.ts";
import type { DuplicatePolicy } from "../../src/core/login_registry.ts";
import { LocalLoginRegistry } from "../../src/core/login_registry_local.ts";
import type { Session } from "../../src/core/session.ts";

const session = (id: string) => ({ id }) as Session;

function registry(policy: DuplicatePolicy, now = () => 1_000) {
  const evicted: Array<[string, number]> = [];
  const logins = new LocalLoginRegistry({
    policy,
    now,
    evict: (s: Session, d: Disconnect) => evicted.push([s.id, d.code]),
  });
  return { logins, evicted };
}

Deno.test("HybridClock stamps only grow and follow stamps it has seen, whatever the wall clock", () => {
  let wall = 1_000;
  const clock = new HybridClock(() => wall);
  const a = clock.stamp("a");
  const b = clock.stamp("b");
  assert.ok(compareLogins(a, b) < 0, "same millisecond: the counter orders");
  wall = 900; // the wall clock steps back
  const c = clock.stamp("c");
  assert.ok(compareLogins(b, c) < 0, "a clock step back does not reorder");
  clock.observe({ wall: 5_000, counter: 3 }); // a node whose clock runs ahead
  const d = clock.stamp("d");
  assert.ok(compareLogins({ wall: 5_000, counter: 3, session: "z" }, d) < 0);
  assert.equal(compareLogins(d, d), 0);
  assert.ok(
    compareLogins({ wall: 1, counter: 0, session: "a" }, { wall: 1, counter: 0, session: "b" }) < 0,
  );
});

Deno.test("kick_old: a second login of a user here evicts the first with 4502", async () => {
  const { logins, evicted } = registry("kick_old");
  const [a, b, c] = [session("a"), session("b"), session("c")];
  assert.equal(await logins.claim(a, "ann"), true);
  assert.equal(await logins.claim(c, "cid"), true);
  assert.equal(await logins.claim(b, "ann"), true);
  assert.deepEqual(evicted, [["a", 4502]]);
  logins.release(a, "ann"); // the evicted session's close must not drop the new claim
  assert.equal(logins.lookup("ann")?.session, b);
  logins.release(b, "ann");
  assert.equal(logins.lookup("ann"), undefined);
  assert.equal(logins.size, 1);
});

Deno.test("reject_new: a second login of a user here is refused until the first is released", async () => {
  const { logins, evicted } = registry("reject_new");
  const [a, b] = [session("a"), session("b")];
  assert.equal(await logins.claim(a, "ann"), true);
  assert.equal(await logins.claim(b, "ann"), false);
  assert.deepEqual(evicted, []);
  logins.release(a, "ann");
  assert.equal(await logins.claim(b, "ann"), true);
});

Deno.test("another node's login wins or loses by stamp alone, the same way on every node", () => {
  for (const policy of ["kick_old", "reject_new"] as const) {
    const { logins, evicted } = registry(policy);
    const local = session("local");
    const entry = logins.begin(local, "ann")!;
    logins.confirm(entry);
    const older = { wall: entry.stamp.wall - 1, counter: 0, session: "remote-older" };
    const newer = { wall: entry.stamp.wall + 1, counter: 0, session: "remote-newer" };
    if (policy === "kick_old") {
      assert.equal(logins.observe("ann", older), entry, "the local newer login wins");
      assert.deepEqual(evicted, []);
      assert.equal(logins.observe("ann", newer), undefined);
      assert.deepEqual(evicted, [["local", 4502]]);
    } else {
      assert.equal(logins.observe("ann", newer), entry, "the local older login wins");
      assert.deepEqual(evicted, []);
      assert.equal(logins.observe("ann", older), undefined);
      assert.deepEqual(evicted, [["local", 4503]]);
    }
    assert.equal(logins.lookup("ann"), undefined);
    // Its own announcement coming back changes nothing.
    const again = logins.begin(session("x"), "bob")!;
    logins.confirm(again);
    assert.equal(logins.observe("bob", again.stamp), undefined);
    assert.equal(logins.lookup("bob"), again);
  }
});

Deno.test("reject_new: a pending claim that meets an older login is dropped, not evicted", () => {
  const { logins, evicted } = registry("reject_new");
  const entry = logins.begin(session("pending"), "ann")!;
  assert.equal(entry.live, false);
  logins.observe("ann", { wall: 0, counter: 0, session: "older" });
  assert.equal(logins.confirm(entry), false);
  assert.deepEqual(evicted, []);
});
