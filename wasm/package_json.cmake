# Writes the package's package.json: wasm/package.json with
# repository.url set from FOLDBACK_NPM_REPOSITORY when it is given
# (e.g. git+https://git.firm.example/foldback.git). Run as
#   cmake -DIN=wasm/package.json -DOUT=build/wasm/package/package.json [-DREPO=url] -P wasm/package_json.cmake
file(READ "${IN}" pkg)
string(JSON kind ERROR_VARIABLE err TYPE "${pkg}" repository)
if(err)
  message(FATAL_ERROR "${IN}: no repository object (${err})")
endif()
if(REPO)
  string(JSON pkg SET "${pkg}" repository url "\"${REPO}\"")
endif()
file(WRITE "${OUT}" "${pkg}\n")
