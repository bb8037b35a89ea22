// The Redis registry's two Lua scripts.
//
// BATCH is its only write: a batch of creates/updates/deletes where every
// check (existence, expected revision, route ownership, the same as
// batch.ts's checkBatch) runs before any write, then one INCR of the global
// revision (every written app gets it) and one PUBLISH. A batch that fails a
// check writes nothing and returns every failure.
//
// It also keeps the change log READ follows: `log` (zset id -> revision of
// its last write), `gone` (zset id -> revision of its delete, the newest
// newest ones kept, 10,000 by default), `logrev` (the last revision logged) and `logfrom` (the log
// holds every write after this revision: set when a write finds an unlogged
// one before it — a replica of an older version — and when tombstones are
// trimmed).
// KEYS: 1 apps(hash id->json) 2 apprev(hash id->rev) 3 created(hash id->iso)
//       4 routes(hash routeKey->id) 5 approutes(hash id->json array) 6 rev(counter)
//       7 log(zset) 8 gone(zset) 9 logrev 10 logfrom
// ARGV: now, channel, tombstones kept, then per op: op, id, expectedRev, recordJson, routeKeysJson
export const BATCH = `
local now, channel, keep = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = (#ARGV - 3) / 5
local out = {'FAIL'}
local function fail(kind, id, a, b)
  out[#out + 1] = kind; out[#out + 1] = id; out[#out + 1] = a or ''; out[#out + 1] = b or ''
end
local released = {}
for i = 0, n - 1 do
  local b = 4 + i * 5
  local op, id, expected = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2])
  local exists = redis.call('HEXISTS', KEYS[1], id) == 1
  if op == 'create' then
    if exists then fail('ALREADY_EXISTS', id) end
  elseif not exists then
    fail('NOT_FOUND', id)
  else
    local cur = tonumber(redis.call('HGET', KEYS[2], id))
    if (op == 'update' or expected ~= 0) and cur ~= expected then
      fail('REVISION', id, tostring(cur), tostring(expected))
    end
    local old = redis.call('HGET', KEYS[5], id)
    if old then
      for _, r in ipairs(cjson.decode(old)) do
        if redis.call('HGET', KEYS[4], r) == id then released[r] = true end
      end
    end
  end
end
local claimed, routes = {}, {}
for i = 0, n - 1 do
  local b = 4 + i * 5
  if ARGV[b] ~= 'delete' then
    local id = ARGV[b + 1]
    routes[i] = cjson.decode(ARGV[b + 4])
    for _, r in ipairs(routes[i]) do
      local owner = claimed[r]
      if not owner and not released[r] then owner = redis.call('HGET', KEYS[4], r) end
      if owner and owner ~= id then fail('ROUTE', id, r, owner) else claimed[r] = id end
    end
  end
end
if #out > 1 then return out end
for r in pairs(released) do redis.call('HDEL', KEYS[4], r) end
local cur = tonumber(redis.call('GET', KEYS[6]) or '0')
if tonumber(redis.call('GET', KEYS[9]) or '0') ~= cur then redis.call('SET', KEYS[10], cur) end
local rev = redis.call('INCR', KEYS[6])
for i = 0, n - 1 do
  local b = 4 + i * 5
  local op, id = ARGV[b], ARGV[b + 1]
  if op == 'delete' then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[5], id)
    redis.call('ZREM', KEYS[7], id)
    redis.call('ZADD', KEYS[8], rev, id)
  else
    redis.call('HSET', KEYS[1], id, ARGV[b + 3])
    redis.call('HSET', KEYS[2], id, rev)
    redis.call('HSETNX', KEYS[3], id, now)
    redis.call('HSET', KEYS[5], id, ARGV[b + 4])
    for _, r in ipairs(routes[i]) do redis.call('HSET', KEYS[4], r, id) end
    redis.call('ZADD', KEYS[7], rev, id)
    redis.call('ZREM', KEYS[8], id)
  end
end
redis.call('SET', KEYS[9], rev)
local excess = redis.call('ZCARD', KEYS[8]) - keep
if excess > 0 then
  local last = redis.call('ZRANGE', KEYS[8], excess - 1, excess - 1, 'WITHSCORES')
  redis.call('ZREMRANGEBYRANK', KEYS[8], 0, excess - 1)
  if tonumber(last[2]) > tonumber(redis.call('GET', KEYS[10]) or '0') then redis.call('SET', KEYS[10], last[2]) end
end
redis.call('PUBLISH', channel, rev)
return {'OK', tostring(rev)}
`;

// READ: what changed since the revision a replica holds, in one atomic step.
// From the change log when it covers everything after `known` (the last
// write was logged and `known` is not below `logfrom`): the apps written
// after `known` and the ids deleted after it, O(changes). Otherwise every
// app's revision, and the records of those newer than `known` (the ids no
// longer listed were deleted). A revision below `known` means the registry
// was reset: everything is returned.
// KEYS: 1 apps 2 apprev 3 created 4 rev 5 log 6 gone 7 logrev 8 logfrom
// ARGV: known revision (0: everything)
// Returns {rev, base} when nothing changed; else from the log
// {rev, base, {id, rev, ...} written, {id, recordJson, createdAt, ...} of those, {id, ...} deleted};
// else {rev, base, {id, rev, ...} of every app, {id, recordJson, createdAt, ...} of apps newer than base}.
export const READ = `
local rev = tonumber(redis.call('GET', KEYS[4]) or '0')
local known = tonumber(ARGV[1])
if rev < known then known = 0 end
if known ~= 0 and rev == known then return {tostring(rev), tostring(known)} end
if known ~= 0 and tonumber(redis.call('GET', KEYS[7]) or '0') == rev
    and known >= tonumber(redis.call('GET', KEYS[8]) or '0') then
  local written = redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. known, '+inf', 'WITHSCORES')
  local changed = {}
  for i = 1, #written, 2 do
    changed[#changed + 1] = written[i]
    changed[#changed + 1] = redis.call('HGET', KEYS[1], written[i]) or ''
    changed[#changed + 1] = redis.call('HGET', KEYS[3], written[i]) or ''
  end
  local deleted = redis.call('ZRANGEBYSCORE', KEYS[6], '(' .. known, '+inf')
  return {tostring(rev), tostring(known), written, changed, deleted}
end
local revs = redis.call('HGETALL', KEYS[2])
local changed = {}
for i = 1, #revs, 2 do
  if known == 0 or tonumber(revs[i + 1]) > known then
    changed[#changed + 1] = revs[i]
    changed[#changed + 1] = redis.call('HGET', KEYS[1], revs[i]) or ''
    changed[#changed + 1] = redis.call('HGET', KEYS[3], revs[i]) or ''
  end
end
return {tostring(rev), tostring(known), revs, changed}
`;
