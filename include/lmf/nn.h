/* lmfuse nn module: neural language models behind the model interface.
 *
 * This first part loads recurrent word models (Elman RNN, LSTM, GRU) from
 * safetensors files laid out like PyTorch's word_language_model:
 *     encoder.weight            [V, E]      embedding
 *     rnn.weight_ih_l{k}        [G*H, in]   G = 1 (rnn), 4 (lstm: i f g o), 3 (gru: r z n)
 *     rnn.weight_hh_l{k}        [G*H, H]
 *     rnn.bias_ih_l{k}          [G*H]
 *     rnn.bias_hh_l{k}          [G*H]
 *     decoder.weight            [V, H]      absent when tied to encoder.weight (E == H)
 *     decoder.bias              [V]
 * with string metadata
 *     lmfuse.arch   "rnn" | "lstm" | "gru"
 *     lmfuse.vocab  a JSON array of the V tokens in id order ("<unk>", "</s>", ...)
 *     lmfuse.token_mode  "word" (default), "char" or "byte"
 * (layers, sizes and tying are read from the tensor shapes).
 *
 * Transformers (lmfuse.arch "transformer", plus lmfuse.heads) use the
 * tensor names of src/nn/transformer.c's header comment (tok_emb.weight,
 * pos_emb.weight, blocks.{l}.{ln1,qkv,proj,ln2,fc,out}.{weight,bias},
 * ln_f.*, head.weight unless tied, head.bias); they read a stream through a
 * sliding window of their context (stride ctx/2).
 *
 * Stream convention: a recurrent model reads one continuous token stream
 * and carries its hidden state across lines; a fresh state has read a
 * single </s> from zero hidden state, so the first token of a text is
 * predicted as if it followed an end of line.  This is exactly what a
 * PyTorch model sees when the stream it is fed starts with an end-of-line
 * token.
 */
#ifndef LMF_NN_H
#define LMF_NN_H

#include "lmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads a recurrent model or a Transformer from a safetensors file.  *out is NULL on error
 * (message names the file and the missing or mis-shaped tensor). */
lmf_status lmf_nn_load(const char *path, lmf_model **out);

/* ---- PyTorch state dicts (src/nn/pytorch.c) ----
 *
 * Import reads a state dict saved with safetensors.torch.save_file:
 *   recurrent: encoder.weight (or embedding.weight) [V, E]; the weights of
 *     one nn.RNN/LSTM/GRU under any prefix, <prefix>weight_ih_l{k},
 *     weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (renamed rnn.*; the gate
 *     count G = rows / columns of weight_hh_l0 gives the architecture: 1 rnn,
 *     4 lstm, 3 gru); decoder.weight (or fc.weight) [V, H], left out or
 *     equal to the embedding when tied; decoder.bias (or fc.bias) [V];
 *   Transformer: the names of the layout above (tok_emb.weight, ...;
 *     head.weight left out or equal to tok_emb.weight when tied).
 * Tensors of dtype F32, F16, BF16 or F64 with one or two dimensions are
 * converted to F32; others (integer buffers) and "train.*" are dropped.
 *
 * The token list (TOKENS.txt) has the model's V tokens one per line in the
 * state dict's id order ('\n' ends a line; one '\r' before it is dropped; a
 * last line without '\n' counts).  It must hold <unk> and </s> (or <eos>;
 * with both, </s> is the end of line and <eos> an ordinary word): lmfuse
 * gives them ids 0 and 1, keeps the others in order from id 2, and
 * permutes the rows indexed by token (embedding, output weights and bias)
 * to match.  The model is a word model, so a token
 *   - is not empty, and is valid UTF-8 (the vocabulary is stored as JSON,
 *     and word-mode text is read as UTF-8);
 *   - contains no NUL byte and none of the bytes the word tokenizer splits
 *     text at (space, tab, CR, VT, FF; '\n' ends the line), since no text
 *     could ever give such a token;
 *   - is not "<s>" (the beginning-of-line context, never predicted) and
 *     appears once.
 * Every other byte is allowed, control characters (U+0001..U+001F other
 * than the whitespace above, U+007F) included: the word tokenizer produces
 * them, and lmfuse.vocab stores them escaped (\u0001).  A list that breaks
 * a rule is refused with LMF_ERR_FORMAT and a message naming the file, the
 * line and the byte.
 */
typedef struct lmf_nn_import_opts {
    const char *vocab_path; /* the token list; NULL: the state dict's own lmfuse.vocab metadata (token
                               order and lmfuse.token_mode kept).  Output classes (lmfuse.classes) are
                               kept while the token order is (a list that reorders them is refused) */
    int heads;              /* attention heads of a Transformer; 0: the state dict's lmfuse.heads */
} lmf_nn_import_opts;
void lmf_nn_import_opts_init(lmf_nn_import_opts *o);

/* Converts the PyTorch state dict at `state_dict` (opts NULL: defaults) to
 * an lmfuse model file at out_path (safetensors, F32, metadata
 * lmfuse.converted_from "pytorch"), after checking that the result loads
 * as a model; on any error nothing is written and an earlier file at
 * out_path is left as it was.  With `model` non-NULL, *model receives the
 * converted model (free with lmf_model_free; NULL on error).  Errors:
 * LMF_ERR_IO (files), LMF_ERR_FORMAT (the state dict or the token list:
 * the message names the file, tensor or line), LMF_ERR_ARG (no token list
 * and no lmfuse.vocab; a Transformer without heads), LMF_ERR_NOMEM. */
lmf_status lmf_nn_import_pytorch(const char *state_dict, const lmf_nn_import_opts *opts, const char *out_path,
                                 lmf_model **model);

/* Writes the neural model file at model_path as a PyTorch state dict at
 * out_path: every tensor under its PyTorch name (decoder.weight or
 * head.weight included when tied, as load_state_dict expects; "train.*"
 * left out), the lmfuse metadata kept, and "format" "pt".  With tokens_path
 * non-NULL, also the V tokens one per line in id order, for the PyTorch
 * side (LMF_ERR_UNSUPPORTED, before anything is written, if a token
 * contains a line break: '\n' or '\r').  Both files are written
 * atomically. */
lmf_status lmf_nn_export_pytorch(const char *model_path, const char *out_path, const char *tokens_path);

#ifdef __cplusplus
}
#endif
#endif
