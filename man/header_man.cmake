# Makes a manual page from a public header, so that the page is the header:
#   cmake -DHEADER=include/ckpt/ckpt.h -DPAGE=libckpt -DSUMMARY="..." -DOUT=x.3 -P header_man.cmake
# The header's opening comment becomes the DESCRIPTION, the whole header the
# SYNOPSIS (declarations with their comments), verbatim.
file(READ "${HEADER}" text)
string(REPLACE "\\" "\\e" text "${text}")
string(REGEX REPLACE "\n([.'])" "\n\\\\&\\1" text "${text}")
# The opening comment: up to the first line that is not part of it.
string(REGEX MATCH "^(/\\*[^\n]*\n( \\*[^\n]*\n)*|(//[^\n]*\n)+)" intro "${text}")
string(REGEX REPLACE "(^|\n) ?(/\\*|\\*/|\\*|//) ?" "\\1" intro "${intro}")
string(TOUPPER "${PAGE}" upper)
get_filename_component(name "${HEADER}" NAME)
file(WRITE "${OUT}" ".TH ${upper} 3 \"\" \"ckpt ${VERSION}\" \"ckpt manual\"
.SH NAME
${PAGE} \\- ${SUMMARY}
.SH SYNOPSIS
.nf
#include <ckpt/${name}>
.fi
Link with
.B \\-lckpt
(pkg\\-config ckpt).
.SH DESCRIPTION
.nf
${intro}.fi
.SH THE HEADER
.nf
${text}.fi
.SH ENVIRONMENT
CKPT_DIR, CKPT_INTERVAL, CKPT_KEEP, CKPT_COMPRESS, CKPT_QUIET, CKPT_DEADLINE,
CKPT_MARGIN, CKPT_ASYNC, CKPT_DIRECT and CKPT_FULL_EVERY; see
.BR ckpt (1).
.SH SEE ALSO
.BR ckpt (1),
.BR ${OTHER} (3)
")
