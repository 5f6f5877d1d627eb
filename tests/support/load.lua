-- wrk script: count what matters for a deploy under load and print it as one JSON line.
--   wrk -t2 -c16 -d120s -s tests/support/load.lua http://127.0.1.100:8080/ -- <delay_ms>
-- delay_ms (optional): pause per request on each connection, to cap the request rate.
-- Reported: requests, non-2xx responses, socket errors, latency percentiles, versions served
-- ("Hello from version N"), and the longest stretch in which no request completed at all
-- (completions are marked in 10 ms buckets per thread and merged across threads).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } wrk_timespec_t;
int clock_gettime(int clk, wrk_timespec_t *tp);
]]
local ts = ffi.new("wrk_timespec_t")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC: one clock for every thread
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local BUCKET = 0.010
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  pause = tonumber(args[1] or "0") or 0
  non2xx = 0
  statuses = {}
  versions = {}
  buckets = {}
  first = nil
  last = nil
end

function delay()
  return pause
end

function response(status, headers, body)
  local t = now()
  if first == nil then first = t end
  last = t
  buckets[math.floor(t / BUCKET)] = true
  statuses[status] = (statuses[status] or 0) + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  local v = body and string.match(body, "version (%S+)")
  if v then versions[v] = (versions[v] or 0) + 1 end
end

local function json(v)
  if type(v) == "table" then
    local parts = {}
    for k, x in pairs(v) do table.insert(parts, string.format("%q:%s", tostring(k), json(x))) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(v) == "number" then
    return string.format("%.6f", v)
  end
  return string.format("%q", tostring(v))
end

function done(summary, latency, requests)
  local all, statuses_all, versions_all = {}, {}, {}
  local total_non2xx, t0, t1 = 0, nil, nil
  for _, thread in ipairs(threads) do
    total_non2xx = total_non2xx + (thread:get("non2xx") or 0)
    for k, _ in pairs(thread:get("buckets") or {}) do all[k] = true end
    for k, n in pairs(thread:get("statuses") or {}) do statuses_all[k] = (statuses_all[k] or 0) + n end
    for k, n in pairs(thread:get("versions") or {}) do versions_all[k] = (versions_all[k] or 0) + n end
    local f, l = thread:get("first"), thread:get("last")
    if f and (t0 == nil or f < t0) then t0 = f end
    if l and (t1 == nil or l > t1) then t1 = l end
  end
  local keys = {}
  for k, _ in pairs(all) do table.insert(keys, k) end
  table.sort(keys)
  local max_gap = 0
  for i = 2, #keys do
    local gap = (keys[i] - keys[i - 1]) * BUCKET
    if gap > max_gap then max_gap = gap end
  end
  local e = summary.errors
  io.write("WRK_REPORT ", json({
    requests = summary.requests,
    duration_s = summary.duration / 1e6,
    non2xx = total_non2xx,
    errors_connect = e.connect, errors_read = e.read, errors_write = e.write,
    errors_timeout = e.timeout,
    latency_p50_ms = latency:percentile(50) / 1000,
    latency_p99_ms = latency:percentile(99) / 1000,
    latency_max_ms = latency.max / 1000,
    max_stall_s = max_gap,
    first_s = t0 or 0, last_s = t1 or 0,
    statuses = statuses_all,
    versions = versions_all,
  }), "\n")
end
