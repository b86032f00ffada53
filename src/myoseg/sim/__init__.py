"""Physics-based simulator of cardiac MOLLI T1 and T2-prep T2 maps with exact ground truth (`myoseg simulate`)."""
