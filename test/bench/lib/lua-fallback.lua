-- Stand-in for envoy/lua-reference.yaml (used only while that file is absent or
-- does not answer for the bench app): the same work as the wasm filter with the
-- cache off: read the session cookie, one BFF call per request, strip the
-- cookie, set the bearer token; 401 / 503 like the filter.
local COOKIE = "__Host-sg-bench"
local APP = "bench"

local function session_from(cookie)
  if cookie == nil then return nil end
  for pair in string.gmatch(cookie, "[^;]+") do
    local name, value = string.match(pair, "^%s*([^=]+)=(.*)$")
    if name == COOKIE then return value end
  end
  return nil
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local sid = session_from(headers:get("cookie"))
  if sid == nil then return end
  headers:remove("cookie")
  if not string.match(sid, "^[A-Za-z0-9_%-]+$") or #sid > 256 then
    handle:respond({[":status"] = "401"}, '{"error":"no_session"}')
    return
  end
  local rh, body = handle:httpCall("sessiongate_bff_internal", {
    [":method"] = "GET",
    [":path"] = "/internal/v1/session-token",
    [":authority"] = "sessiongate-bff",
    ["x-sessiongate-app"] = APP,
    ["x-sessiongate-session"] = sid,
  }, "", 2000)
  local status = rh and rh[":status"]
  if status == "401" then
    handle:respond({[":status"] = "401"}, '{"error":"no_session"}')
    return
  end
  local token = status == "200" and body and string.match(body, '"access_token"%s*:%s*"([^"]+)"')
  if not token then
    handle:respond({[":status"] = "503"}, '{"error":"session_service_unavailable"}')
    return
  end
  -- A header map wrapper does not survive the httpCall yield: fetch it again.
  handle:headers():replace("authorization", "Bearer " .. token)
end
