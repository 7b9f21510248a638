// Builds small ONNX models for the tests, offline, with the ONNX protobuf
// schema of the npm package `onnx-proto`: shaped like a BERT encoder
// (inputs input_ids, attention_mask, token_type_ids; output
// last_hidden_state [batch, tokens, hidden]) but computing only
//   last_hidden_state = (word_emb[input_ids] + type_emb[token_type_ids]) * attention_mask
// so that a test can compute the expected sentence vector by hand.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

function valueInfo(name, elemType, dims) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function floatTensor(name, dims, values) {
  return { name, dims, dataType: T.FLOAT, floatData: Array.from(values) };
}

function int64Tensor(name, dims, values) {
  return { name, dims, dataType: T.INT64, int64Data: values };
}

// Deterministic pseudo-random numbers in [-1, 1).
export function table(rows, cols, seed) {
  const out = new Float32Array(rows * cols);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/**
 * tinyBertModel({vocabSize, hidden, withTokenTypes = true, extraInput, outputName,
 *                outputKind: 'hidden' | 'pooled' | 'int', wordEmb?, typeEmb?})
 *   -> {bytes, wordEmb, typeEmb, hidden}
 * Embedding tables default to pseudo-random numbers.
 */
export function tinyBertModel({
  vocabSize, hidden = 32, withTokenTypes = true, extraInput = null,
  outputName = 'last_hidden_state', outputKind = 'hidden', seed = 7,
  wordEmb = table(vocabSize, hidden, seed), typeEmb = table(2, hidden, seed + 1),
} = {}) {
  const inputs = [
    valueInfo('input_ids', T.INT64, ['batch', 'sequence']),
    valueInfo('attention_mask', T.INT64, ['batch', 'sequence']),
  ];
  if (withTokenTypes) inputs.push(valueInfo('token_type_ids', T.INT64, ['batch', 'sequence']));
  if (extraInput) inputs.push(valueInfo(extraInput, T.FLOAT, ['batch', 3, 224, 224]));
  const initializer = [
    floatTensor('word_emb', [vocabSize, hidden], wordEmb),
    floatTensor('type_emb', [2, hidden], typeEmb),
    int64Tensor('last_axis', [1], [-1]),
  ];
  if (outputKind === 'pooled') initializer.push(int64Tensor('token_axis', [1], [1]));
  const node = [
    { opType: 'Gather', input: ['word_emb', 'input_ids'], output: ['words'], name: 'word_lookup' },
    { opType: 'Cast', input: ['attention_mask'], output: ['mask_f'], name: 'mask_cast',
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: T.FLOAT }] },
    { opType: 'Unsqueeze', input: ['mask_f', 'last_axis'], output: ['mask_3d'], name: 'mask_unsqueeze' },
  ];
  let summed = 'words';
  if (withTokenTypes) {
    node.push({ opType: 'Gather', input: ['type_emb', 'token_type_ids'], output: ['types'], name: 'type_lookup' });
    node.push({ opType: 'Add', input: ['words', 'types'], output: ['summed'], name: 'add_types' });
    summed = 'summed';
  }
  let output;
  if (outputKind === 'hidden') {
    node.push({ opType: 'Mul', input: [summed, 'mask_3d'], output: [outputName], name: 'apply_mask' });
    output = valueInfo(outputName, T.FLOAT, ['batch', 'sequence', hidden]);
  } else if (outputKind === 'pooled') {
    node.push({ opType: 'Mul', input: [summed, 'mask_3d'], output: ['masked'], name: 'apply_mask' });
    node.push({ opType: 'ReduceSum', input: ['masked', 'token_axis'], output: [outputName], name: 'pool',
      attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] });
    output = valueInfo(outputName, T.FLOAT, ['batch', hidden]);
  } else {  // 'int': a wrong element type
    node.push({ opType: 'Cast', input: ['input_ids'], output: [outputName], name: 'bad_cast',
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: T.INT32 }] });
    output = valueInfo(outputName, T.INT32, ['batch', 'sequence']);
  }
  const model = {
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'foldback-tests',
    graph: { name: 'tiny_bert', node, initializer, input: inputs, output: [output] },
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`tiny ONNX model: ${err}`);
  return { bytes: onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish(), wordEmb, typeEmb, hidden };
}
