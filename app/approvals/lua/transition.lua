-- Every transition of a change request, in one script on the request's own hash slot.
-- KEYS[1] the request hash, KEYS[2] its approvals set, KEYS[3] its events list,
-- KEYS[4] its voters hash (identity -> Slack ID: one person counts once, whatever account)
-- ARGV[1] action (app.approvals.store.Action), ARGV[2] actor, ARGV[3] now (epoch seconds),
-- ARGV[4] retention (seconds kept once final), ARGV[5] JSON of the action's arguments
-- KEYS[5], when given, its audit outbox (app.approvals.outbox): a transition that changes the
-- request writes there the record `arg.audit` (its fields), completed with the event, state
-- and approvals, and a transition id, in this same atomic step, and returns it (the outbox item,
-- JSON) as a fourth element, so the caller appends it to the log without reading it back.
-- Returns {status, state, approvals[, item]}; status is one of app.approvals.store.Outcome.
local req, approvals, events, voters = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local action, actor, now, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local arg = cjson.decode(ARGV[5])
local function run()
if redis.call('EXISTS', req) == 0 then return {'missing', '', 0} end
local h = redis.call('HMGET', req, 'state', 'requester', 'expires', 'required', 'lease',
                      'lease_until', 'decided_by', 'beneficiaries', 'requester_ids', 'step_up',
                      'step_up_max_age', 'confirming')
local state, requester = h[1], h[2]
local expires, required = tonumber(h[3]), tonumber(h[4])
local function count() return redis.call('SCARD', approvals) end
local function log(from, to, detail)
  redis.call('RPUSH', events, cjson.encode({ts = now, action = action, actor = actor,
                                            from = from, to = to, detail = detail or ''}))
end
local function set(to, ...)
  redis.call('HSET', req, 'state', to, 'updated', now, ...)
  redis.call('HINCRBY', req, 'version', 1)
end
local function finalise(to, ...)
  set(to, 'lease', '', 'lease_until', '', ...)
  redis.call('HDEL', req, 'secrets')
  for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, retention) end
end
local function take_lease(from)
  set('applying', 'lease', arg.lease, 'lease_until', arg.lease_until)
  redis.call('HINCRBY', req, 'attempts', 1)
  log(from, 'applying', '')
end
if action == 'reason' then
  -- The denier adds why, after the click that already settled the request.
  if state ~= 'denied' or h[7] ~= actor then return {'noop', state, count()} end
  -- The same reason again (a job replayed after its consumer died) changes nothing.
  if redis.call('HGET', req, 'deny_reason') == (arg.reason or '') then
    return {'noop', state, count()}
  end
  redis.call('HSET', req, 'deny_reason', arg.reason or '')
  redis.call('HINCRBY', req, 'version', 1)
  log('denied', 'denied', 'reason given')
  return {'ok', state, count()}
end
if state == 'applied' or state == 'denied' or state == 'expired' or state == 'cancelled' then
  return {'final', state, count()}
end
-- Someone who gains access through the request never counts toward it (nor retries it).
local function beneficiary()
  local gaining = cjson.decode(h[8] or '[]')
  for _, who in ipairs(arg.identities or {}) do
    for _, gains in ipairs(gaining) do
      if who ~= '' and who == gains then return true end
    end
  end
  return false
end
-- The clicker is the requester, from any of their accounts (arg.ids: `slack:U…`, `mysafe:name`).
local function requester_self()
  if actor == requester then return true end
  local theirs = cjson.decode(h[9] or '[]')
  for _, who in ipairs(arg.ids or {}) do
    for _, mine in ipairs(theirs) do
      if who == mine then return true end
    end
  end
  return false
end
-- Has this person approved already, as any of their identities?
local function voted()
  for _, who in ipairs(arg.ids or {}) do
    if redis.call('HEXISTS', voters, who) == 1 then return true end
  end
  return redis.call('SISMEMBER', approvals, actor) == 1
end
local ours = state == 'applying' and h[5] == arg.lease
if action == 'fence' then
  -- May the holder of arg.lease still write? Only while its lease runs, with margin to spare.
  if ours and (tonumber(h[6]) or 0) > now + (tonumber(arg.margin) or 0) then
    return {'ok', state, count()}
  end
  return {'stale', state, count()}
elseif action == 'yield' then
  -- The holder could not get the entry in time: hand the request to the sweeper's next pass.
  if not ours then return {'stale', state, count()} end
  redis.call('HSET', req, 'lease_until', now)
  log('applying', 'applying', 'waiting for another change to the same entry')
  return {'ok', state, count()}
end
if (state == 'pending' or state == 'failed') and now >= expires then
  -- The sweep hands the listeners' news (Slack) to later work: `untold` says it is owed
  -- until they are told (see claim_tell.lua), kept with the state change it reports.
  if action == 'expire' then finalise('expired', 'untold', 0) else finalise('expired') end
  log(state, 'expired', 'request ttl')
  return {'expired', 'expired', count()}
end
if action == 'expire' then return {'noop', state, count()} end
local approver = arg.approver == true
if action == 'approve' or action == 'confirm' then
  if state ~= 'pending' then return {'noop', state, count()} end
  if requester_self() then return {'self', state, count()} end
  if not approver then return {'not_approver', state, count()} end
  if beneficiary() then return {'beneficiary', state, count()} end
  if voted() then return {'already', state, count()} end
  -- Step-up (the rule's `step_up`): the click only records that this approver is confirming
  -- (actor -> click time); the approval counts at `confirm`, once the bot has verified their
  -- passkey for *that* click (arg.clicked) within the rule's age limit. Never counted before.
  local confirming = cjson.decode(h[12] or '{}')
  if (h[10] or '') ~= '' then
    if action == 'approve' then
      confirming[actor] = ARGV[3]  -- the time as sent: compared as text, never rounded
      redis.call('HSET', req, 'confirming', cjson.encode(confirming), 'updated', now)
      redis.call('HINCRBY', req, 'version', 1)
      log('pending', 'pending', 'step-up pending')
      return {'step_up', 'pending', count()}
    end
    local clicked = confirming[actor]
    if clicked == nil or clicked ~= arg.clicked
       or now - tonumber(clicked) > (tonumber(h[11]) or 300) then
      return {'step_up_stale', state, count()}
    end
    confirming[actor] = nil
    redis.call('HSET', req, 'confirming', cjson.encode(confirming))
  elseif action == 'confirm' then
    return {'noop', state, count()}
  end
  -- Recorded as the voter is known to others (arg.marks: a claimed name only as a claim),
  -- so a later click by the person whose name was claimed still counts.
  for _, who in ipairs(arg.marks or arg.ids or {}) do redis.call('HSET', voters, who, actor) end
  redis.call('SADD', approvals, actor)
  local n = count()
  log('pending', 'pending', 'approval ' .. n .. '/' .. required)
  if n < required then
    redis.call('HSET', req, 'updated', now)
    redis.call('HINCRBY', req, 'version', 1)
    return {'ok', 'pending', n}
  end
  log('pending', 'approved', '')
  take_lease('approved')
  return {'apply', 'applying', n}
elseif action == 'auto' then
  -- The request's rule needs no approval: applied at once, by the bot, and recorded as such.
  if state ~= 'pending' or required ~= 0 then return {'noop', state, count()} end
  log('pending', 'approved', 'policy rule needs no approval')
  take_lease('approved')
  return {'apply', 'applying', 0}
elseif action == 'deny' then
  if state ~= 'pending' and state ~= 'failed' then return {'noop', state, count()} end
  if requester_self() then return {'self', state, count()} end
  if not approver then return {'not_approver', state, count()} end
  finalise('denied', 'decided_by', actor, 'deny_reason', arg.reason or '')
  log(state, 'denied', '')
  return {'ok', 'denied', count()}
elseif action == 'withdraw' then
  -- The bot takes back a request that never reached the approvers (its message failed).
  if state ~= 'pending' then return {'noop', state, count()} end
  finalise('cancelled', 'decided_by', 'bot', 'error', arg.why or '')
  log(state, 'cancelled', arg.why or '')
  return {'ok', 'cancelled', count()}
elseif action == 'cancel' then
  if state ~= 'pending' and state ~= 'failed' then return {'noop', state, count()} end
  if actor ~= requester then return {'not_requester', state, count()} end
  finalise('cancelled', 'decided_by', actor)
  log(state, 'cancelled', '')
  return {'ok', 'cancelled', count()}
elseif action == 'retry' then
  if state ~= 'failed' then return {'noop', state, count()} end
  if requester_self() then return {'self', state, count()} end
  if not approver then return {'not_approver', state, count()} end
  if beneficiary() then return {'beneficiary', state, count()} end
  take_lease('failed')
  return {'apply', 'applying', count()}
elseif action == 'reclaim' then
  if state ~= 'applying' or (tonumber(h[6]) or 0) > now then return {'noop', state, count()} end
  log('applying', 'applying', 'lease expired; taken over')
  set('applying', 'lease', arg.lease, 'lease_until', arg.lease_until)
  redis.call('HINCRBY', req, 'attempts', 1)
  return {'apply', 'applying', count()}
elseif action == 'finish' then
  if state ~= 'applying' or h[5] ~= arg.lease then return {'stale', state, count()} end
  if arg.outcome == 'applied' then
    finalise('applied', 'result', arg.result)
    log('applying', 'applied', '')
    return {'ok', 'applied', count()}
  end
  set('failed', 'error', arg.error, 'lease', '', 'lease_until', '')
  log('applying', 'failed', arg.error)
  return {'ok', 'failed', count()}
end
return redis.error_reply('unknown action ' .. action)
end

-- The record of a transition that changed the request, in its outbox: named by the engine
-- (`arg.audit.event`), or as the engine names a click's: request.applying, request.expired,
-- request.step_up_pending (a click that waits for its approver's passkey), request.applied /
-- failed, else the action.
local function audit(result)
  local status = result[1]
  if not (KEYS[5] and type(arg.audit) == 'table') or action == 'fence' then return end
  if status ~= 'ok' and status ~= 'apply' and status ~= 'expired' and status ~= 'step_up' then
    return
  end
  local event = action
  if status == 'apply' then event = 'applying'
  elseif status == 'expired' then event = 'expired'
  elseif status == 'step_up' then event = 'step_up_pending'
  elseif action == 'finish' then event = result[2] end
  local fields = arg.audit
  if (fields.event or '') == '' then fields.event = 'request.' .. event end
  fields.state, fields.approvals = result[2], tostring(result[3])
  local tid = req .. '#' .. (redis.call('HGET', req, 'version') or '0')
  local item = cjson.encode({tid = tid, fields = fields})
  redis.call('RPUSH', KEYS[5], item)
  redis.call('EXPIRE', KEYS[5], retention)  -- a worker takes it out long before
  result[4] = item
end

local result = run()
if type(result) == 'table' and result[1] then audit(result) end
return result
