//! Spec sections: #session, #streams, #flow-control — random scripts of
//! commands, deliveries, timeouts and garbage against both roles.

mod ops;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_scripts_keep_invariants(script in prop::collection::vec(any::<u8>(), 0..400)) {
        ops::run(&script);
    }
}

/// A script that exercises a full exchange, kept as a fixed regression input.
#[test]
fn fixed_script_exchange() {
    use ops::Op;
    let script = [
        Op::Open { get: true },
        Op::Open { get: false },
        Op::Reply {
            stream: 0,
            status: 0,
            fin: false,
        },
        Op::Respond {
            stream: 0,
            len: 9,
            fin: true,
        },
        Op::Upload {
            stream: 1,
            len: 9,
            fin: true,
        },
        Op::Consume,
        Op::Advance { ms: 50 },
        Op::WorkerGoAway,
        Op::Advance { ms: 200 },
    ];
    ops::run_ops(ops::Knobs(0x25), &script);
}
