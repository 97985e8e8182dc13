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

// KEYS: seq hash, readings, queue, trimmed floors, trim generation.
// ARGV: device, seq, id, json, gap floor (sequences padded), then the signed content (deviceId,
//       feedId, value, timestamp) that makes two copies one reading, then the trim generation the
//       caller checked the archive under ("" when it has not).
// A sequence at or below the highest is a replay only if the bridge holds that reading with the
// same signed content (conflict if the content differs). Not held and above the device's trimmed
// floor (the highest sequence of its readings moved to the archive), it was never accepted, so a
// late reading is queued however old it is: a backlog sent in any order is taken whole. Not held
// and at or below the floor, Redis cannot tell: the answer is {4, generation}, and the caller
// looks the reading up in the archive and calls again with that generation, which queues it only
// if no trim ran in between (a trim moves readings to the archive after they are written there,
// so a reading absent from both under one generation was never accepted). Nothing is written
// unless the answer is queued.
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
  local floor = redis.call('HGET', KEYS[4], ARGV[1])
  if floor and ARGV[2] <= floor then
    local gen = redis.call('GET', KEYS[5]) or '0'
    if ARGV[10] ~= gen then return {4, tonumber(gen)} end
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

// Move archived batches out of Redis. KEYS: archived zset (root -> archived at, ms), batches,
// readings, root, trimmed floors, trim generation. ARGV: archived before (ms), at most this many
// batches. For each batch archived before the limit (oldest first): its readings and those its
// cut left out (`leftOut`: archived with it, with their reasons), their roots and the batch record
// are deleted, and each device's trimmed floor is raised to the highest sequence deleted (so a
// resend of a left-out reading is checked against the archive too: a replay, never queued again).
// The generation goes up by one per call that trimmed anything (see ACCEPT). Returns
// {batches, readings}.
export const TRIM = `#!lua flags=allow-oom
local roots = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local readings = 0
local function trim(id)
  local colon = string.find(id, ':', 1, true)
  local device = string.sub(id, 1, colon - 1)
  local seq = string.rep('0', 21 - (#id - colon)) .. string.sub(id, colon + 1)
  local floor = redis.call('HGET', KEYS[5], device)
  if not floor or seq > floor then redis.call('HSET', KEYS[5], device, seq) end
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  readings = readings + 1
end
for _, root in ipairs(roots) do
  local raw = redis.call('HGET', KEYS[2], root)
  if raw then
    local b = cjson.decode(raw)
    for _, id in ipairs(b.ids) do trim(id) end
    if type(b.leftOut) == 'table' then
      for _, l in ipairs(b.leftOut) do trim(l.id) end
    end
    redis.call('HDEL', KEYS[2], root)
  end
  redis.call('ZREM', KEYS[1], root)
end
if #roots > 0 then redis.call('INCR', KEYS[6]) end
return {#roots, readings}`;

// A committed batch is final (buried under enough confirmations): KEYS batches, unfinalized,
// to-archive, to-archive-readings; ARGV root, batch JSON, committed at, size. Out of the reorg
// watch and into the archive queue in one step, only if it was unfinal (a repeat changes nothing).
export const FINAL = `#!lua flags=allow-oom
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
  redis.call('INCRBY', KEYS[4], ARGV[4])
end
return 1`;

// Batches written to the archive: KEYS to-archive, to-archive-readings, archived; ARGV archived at
// (ms), then root and size pairs. Each leaves the archive queue (its readings uncounted once, even
// if two bridges report it) and is recorded as archived, to be trimmed after its hot period.
export const ARCHIVED = `#!lua flags=allow-oom
for i = 2, #ARGV, 2 do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then redis.call('DECRBY', KEYS[2], ARGV[i + 1]) end
  redis.call('ZADD', KEYS[3], ARGV[1], ARGV[i])
end
return 1`;
