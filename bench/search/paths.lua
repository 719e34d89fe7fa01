-- wrk script: cycles through the request paths listed one per line in the file given
-- after `--`, so that a run measures a mix of queries rather than one cached answer.
local paths = {}
local n = 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  -- Threads start at different places in the list.
  n = math.random(#paths)
end

function request()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end
