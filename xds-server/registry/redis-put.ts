// The Redis registry's one write: a Lua script, so every check (existence,
// expected revision, route ownership) runs before any write, atomically, and
// the global revision is bumped and published in the same step.
// KEYS: 1 apps(hash id->json) 2 apprev(hash id->rev) 3 created(hash id->iso)
//       4 routes(hash routeKey->id) 5 approutes(hash id->json array) 6 rev(counter)
// ARGV: op, id, expectedRev, recordJson, now, routeKeysJson, channel
export const PUT = `
local op, id, expected = ARGV[1], ARGV[2], tonumber(ARGV[3])
local exists = redis.call('HEXISTS', KEYS[1], id)
if op == 'create' and exists == 1 then return {'ALREADY_EXISTS', id} end
if op ~= 'create' then
  if exists == 0 then return {'NOT_FOUND', id} end
  local cur = tonumber(redis.call('HGET', KEYS[2], id))
  if op == 'update' and cur ~= expected then return {'REVISION', tostring(cur)} end
  if op == 'delete' and expected ~= 0 and cur ~= expected then return {'REVISION', tostring(cur)} end
end
local keys = {}
if op ~= 'delete' then
  keys = cjson.decode(ARGV[6])
  for _, r in ipairs(keys) do
    local owner = redis.call('HGET', KEYS[4], r)
    if owner and owner ~= id then return {'ROUTE', r, owner} end
  end
end
local old = redis.call('HGET', KEYS[5], id)
if old then
  for _, r in ipairs(cjson.decode(old)) do
    if redis.call('HGET', KEYS[4], r) == id then redis.call('HDEL', KEYS[4], r) end
  end
end
local rev = redis.call('INCR', KEYS[6])
if op == 'delete' then
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[5], id)
else
  redis.call('HSET', KEYS[1], id, ARGV[4])
  redis.call('HSET', KEYS[2], id, rev)
  redis.call('HSETNX', KEYS[3], id, ARGV[5])
  redis.call('HSET', KEYS[5], id, ARGV[6])
  for _, r in ipairs(keys) do redis.call('HSET', KEYS[4], r, id) end
end
redis.call('PUBLISH', ARGV[7], rev)
return {'OK', tostring(rev)}
`;
