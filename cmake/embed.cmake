# Writes OUT: a C file defining `const char *VAR = "<contents of IN>";`.
# Invoked with -DIN=... -DOUT=... -DVAR=... at build time.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
file(WRITE "${OUT}" "/* generated from ${IN}; do not edit */\nconst char *${VAR} = \"${escaped}\";\n")
