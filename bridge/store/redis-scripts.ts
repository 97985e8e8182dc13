/*
 * The RedisStore's Lua scripts: each is one atomic step.
 *
 * Flags (Redis 7 shebang): ACCEPT is a plain `#!lua` script, so it may write and is denied when
 * Redis is at maxmemory: the server refuses the whole script before it runs ("OOM command not
 * allowed"), so a refused reading is never half-written. The lease and batch scripts are
 * `allow-oom`: they write a few small keys per batch of readings already accepted, and the commit
 * path must keep draining (and the lease stay held) while intake is refused.
 */

// Outcome codes of ACCEPT.
export const ACCEPT_CODES = ["replay", "queued", "gap", "conflict"] as const;

// KEYS: seq hash, readings, queue.
// ARGV: device, seq, id, json, gap floor (sequences padded), then the signed content (deviceId,
//       feedId, value, timestamp) that makes two copies one reading.
// A sequence at or below the highest is a replay only if the bridge holds that reading with the
// same signed content (conflict if the content differs). Not held, it was never accepted (every
// accepted reading stays in the readings hash), so a late reading is queued however old it is:
// a backlog sent in any order after an outage is taken whole. Nothing is written unless the
// answer is queued.
export const ACCEPT = `#!lua
local last = redis.call('HGET', KEYS[1], ARGV[1]) or '000000000000000000000'
if ARGV[2] > last then
  if last < ARGV[5] then return 2 end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
else
  local held = redis.call('HGET', KEYS[2], ARGV[3])
  if held then
    local h = cjson.decode(held)
    if h.deviceId == ARGV[6] and h.feedId == ARGV[7] and h.value == ARGV[8] and h.timestamp == ARGV[9] then
      return 0
    end
    return 3
  end
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1`;

// Acquire or renew the submitter lease; a new holder gets a new fencing token.
export const LEASE = `#!lua flags=allow-oom
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  local f = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[3], f)
  return f
elseif cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[3]))
end
return -1`;

// Give the lease up at once, only if `owner` holds it. The next holder gets a new fencing token,
// so the releaser is fenced from then on.
export const RELEASE = `#!lua flags=allow-oom
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

// KEYS[4] and ARGV[2] (NEXT_BATCH) / KEYS[4] and ARGV[4] (COMPLETE): the current fencing token
// must be the caller's, so a submitter that lost its lease changes nothing.
export const NEXT_BATCH = `#!lua flags=allow-oom
if redis.call('GET', KEYS[4]) ~= ARGV[2] then return redis.error_reply('FENCED lease lost') end
local inflight = redis.call('GET', KEYS[2])
if inflight then return inflight end
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return false end
redis.call('LTRIM', KEYS[1], #ids, -1)
local seq = redis.call('INCR', KEYS[3])
local batch = cjson.encode({seq = seq, ids = ids})
redis.call('SET', KEYS[2], batch)
return batch`;

export const COMPLETE = `#!lua flags=allow-oom
if redis.call('GET', KEYS[4]) ~= ARGV[4] then return redis.error_reply('FENCED lease lost') end
local inflight = redis.call('GET', KEYS[1])
if not inflight then return 0 end
local b = cjson.decode(inflight)
if tostring(b.seq) ~= ARGV[1] then return redis.error_reply('in-flight batch changed') end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
for _, id in ipairs(b.ids) do redis.call('HSET', KEYS[3], id, ARGV[2]) end
redis.call('SADD', KEYS[7], ARGV[2])
for i = 5, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[5], ARGV[i])
  if not cur or ARGV[i + 1] >= cur then
    redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
    redis.call('HSET', KEYS[6], ARGV[i], ARGV[i + 2])
  end
end
redis.call('DEL', KEYS[1])
return 1`;
