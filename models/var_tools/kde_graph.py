"""Writes the ONNX graphs of the Gaussian KDE's pairwise sums (src-main/host/ort/kde-graph/).

For one position's U distinct feature vectors X [U, d] (centred), their multiplicities w [U, 1] and
scale = -1 / (2 bw^2), the graph `kde_sums_<dtype>` gives

    sums[u] = sum_v w[v] exp(scale |x_u - x_v|^2),  |x_u - x_v|^2 = |x_u|^2 + |x_v|^2 - 2 x_u.x_v

with the dot products as one matrix product X X^T, so onnxruntime's GEMM (or a GPU provider) does the
arithmetic. The self term (v = u) is included, as in the engine's definition. Two more graphs,
`kde_matmul_<dtype>` (X X^T alone) and `kde_exp_<dtype>` (exp of a vector), measure the machine's
floor for the bench. Run: /usr/bin/python3 models/var_tools/kde_graph.py
"""
import os

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'src-main', 'host', 'ort', 'kde-graph')
TYPES = {'f32': TensorProto.FLOAT, 'f64': TensorProto.DOUBLE}


def model(graph):
    m = helper.make_model(graph, producer_name='var-studio kde_graph.py',
                          opset_imports=[helper.make_opsetid('', 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def sums_graph(t):
    x = helper.make_tensor_value_info('x', t, ['U', 'd'])
    w = helper.make_tensor_value_info('w', t, ['U', 1])
    s = helper.make_tensor_value_info('scale', t, [])
    out = helper.make_tensor_value_info('sums', t, ['U', 1])
    minus2 = helper.make_tensor('minus2', t, [], [-2.0])
    nodes = [
        helper.make_node('Transpose', ['x'], ['xt'], perm=[1, 0]),
        helper.make_node('MatMul', ['x', 'xt'], ['gram']),
        helper.make_node('Mul', ['x', 'x'], ['sq']),
        helper.make_node('ReduceSum', ['sq', 'axis1'], ['norms'], keepdims=1),
        helper.make_node('Transpose', ['norms'], ['normsT'], perm=[1, 0]),
        helper.make_node('Mul', ['gram', 'minus2'], ['g2']),
        helper.make_node('Add', ['g2', 'norms'], ['a']),
        helper.make_node('Add', ['a', 'normsT'], ['d2']),
        helper.make_node('Mul', ['d2', 'scale'], ['e']),
        helper.make_node('Exp', ['e'], ['k']),
        helper.make_node('MatMul', ['k', 'w'], ['sums']),
    ]
    axis1 = helper.make_tensor('axis1', TensorProto.INT64, [1], [1])
    return helper.make_graph(nodes, 'kde_sums', [x, w, s], [out], initializer=[minus2, axis1])


def matmul_graph(t):
    # summed over rows, so that copying U^2 results out to JavaScript is not what gets timed
    x = helper.make_tensor_value_info('x', t, ['U', 'd'])
    out = helper.make_tensor_value_info('rows', t, ['U'])
    nodes = [helper.make_node('Transpose', ['x'], ['xt'], perm=[1, 0]),
             helper.make_node('MatMul', ['x', 'xt'], ['gram']),
             helper.make_node('ReduceSum', ['gram', 'axis1'], ['rows'], keepdims=0)]
    axis1 = helper.make_tensor('axis1', TensorProto.INT64, [1], [1])
    return helper.make_graph(nodes, 'kde_matmul', [x], [out], initializer=[axis1])


def exp_graph(t):
    # exp of a U x U matrix of exponents made in the graph (X X^T scaled), summed over rows
    x = helper.make_tensor_value_info('x', t, ['U', 'd'])
    s = helper.make_tensor_value_info('scale', t, [])
    out = helper.make_tensor_value_info('rows', t, ['U'])
    nodes = [helper.make_node('Transpose', ['x'], ['xt'], perm=[1, 0]),
             helper.make_node('MatMul', ['x', 'xt'], ['gram']),
             helper.make_node('Mul', ['gram', 'scale'], ['e']),
             helper.make_node('Exp', ['e'], ['k']),
             helper.make_node('ReduceSum', ['k', 'axis1'], ['rows'], keepdims=0)]
    axis1 = helper.make_tensor('axis1', TensorProto.INT64, [1], [1])
    return helper.make_graph(nodes, 'kde_exp', [x, s], [out], initializer=[axis1])


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, t in TYPES.items():
        for kind, make in (('sums', sums_graph), ('matmul', matmul_graph), ('exp', exp_graph)):
            path = os.path.join(OUT, f'kde_{kind}_{name}.onnx')
            onnx.save(model(make(t)), path)
            print(path, os.path.getsize(path), 'bytes')


if __name__ == '__main__':
    main()
