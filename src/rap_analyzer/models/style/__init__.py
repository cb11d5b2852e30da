"""Artist style: the artist classifier (`classifier`) and the style writer (`writer`, `prompts`, `artists`,
`verbatim`), which generates verses conditioned on retrieved ones and is scored by the classifier."""
