//! Spec sections: #session, #streams, #flow-control — random scripts of
//! commands, deliveries, timeouts and garbage against both roles.

mod ops;
mod pair;

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
    let script = [
        0x25, 0, 1, 0, 0, 3, 0, 4, 9, 1, 9, 6, 0, 10, 50, 7, 0, 10, 200,
    ];
    ops::run(&script);
}
