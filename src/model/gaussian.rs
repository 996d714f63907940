//! Gaussian conditional likelihood of y given (scale, mean), used in training.

use burn::prelude::*;

/// Smallest scale the model may predict; matches the first entry of the CDF table ladder.
pub const SCALE_MIN: f64 = 0.11;

/// Probability mass of the unit interval around each `v = y − μ` under `N(0, scale²)`.
///
/// Scales below [`SCALE_MIN`] count as `SCALE_MIN`, as the codec codes them, with the
/// gradient of a lower bound (Ballé et al. 2018, CompressAI's `LowerBound`): a plain
/// clamp would pass no gradient to a scale below the floor, so one that sank there
/// while its values were zero (a latent channel not in use yet, e.g. after
/// [`super::grow`]) could never rise again, however large its values grew. The
/// gradient passes where the scale is above the floor or where a larger scale would
/// raise the likelihood, which is known here: `d P / d σ > 0` exactly when
/// `l·φ(l) > u·φ(u)`, with `u, l = (±½ − |v|)/σ`, evaluated at the floor.
///
/// # Shapes
/// - `residual`, `scales`: any identical shape; output the same
pub fn gaussian_likelihood<const D: usize>(residual: Tensor<D>, scales: Tensor<D>) -> Tensor<D> {
    let v = residual.abs();
    let at_floor = |bound: f64| v.clone().neg().add_scalar(bound).div_scalar(SCALE_MIN);
    let (u, l) = (at_floor(0.5), at_floor(-0.5));
    let rises = (l.clone() * std_normal_pdf(l)).greater(u.clone() * std_normal_pdf(u));
    let below = scales.clone().lower_elem(SCALE_MIN);
    let lift = below.bool_and(rises).float();
    let scales = scales.clone().clamp_min(SCALE_MIN) + (scales.clone() - scales.detach()) * lift;
    let upper = std_normal_cdf((v.clone().neg().add_scalar(0.5)) / scales.clone());
    let lower = std_normal_cdf((v.neg().sub_scalar(0.5)) / scales);
    (upper - lower).clamp_min(1e-9)
}

fn std_normal_cdf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
        .erf()
        .add_scalar(1.0)
        .mul_scalar(0.5)
}

fn std_normal_pdf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.powi_scalar(2)
        .mul_scalar(-0.5)
        .exp()
        .mul_scalar(1.0 / (2.0 * std::f64::consts::PI).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The likelihood and its gradient with respect to the scale, for one value.
    fn lik_and_grad(v: f32, scale: f32) -> (f32, f32) {
        let device = Device::flex().autodiff();
        let s = Tensor::<1>::from_floats([scale], &device).require_grad();
        let r = Tensor::<1>::from_floats([v], &device);
        let lik = gaussian_likelihood(r, s.clone());
        let value = crate::model::tensor_to_vec(lik.clone())[0];
        let grads = lik.log().sum().backward();
        (
            value,
            crate::model::tensor_to_vec(s.grad(&grads).unwrap())[0],
        )
    }

    /// Below the floor the scale codes as the floor; its gradient passes only where a
    /// larger scale would make the value likelier (a value far from the mean), never
    /// where it would make it less likely (a value at the mean).
    #[test]
    fn the_floor_passes_only_gradients_that_lift_the_scale() {
        let floor = SCALE_MIN as f32;
        // (0.8 is far enough: 7σ from the mean at the floor, but its likelihood is
        // still above the 1e-9 that likelihoods are bounded by.)
        let (at_floor, _) = lik_and_grad(0.8, floor);
        let (far, grad) = lik_and_grad(0.8, 0.05);
        assert!((far - at_floor).abs() < 1e-9, "{far} vs {at_floor}");
        assert!(grad > 0.0, "a far value must pull the scale up: {grad}");
        let (_, grad) = lik_and_grad(0.0, 0.05);
        assert_eq!(
            grad, 0.0,
            "a value at the mean must not push the scale down"
        );
        // Above the floor both directions pass, as before.
        let (_, grad) = lik_and_grad(0.0, 0.5);
        assert!(grad < 0.0, "{grad}");
        let (_, grad) = lik_and_grad(0.8, 0.5);
        assert!(grad > 0.0, "{grad}");
    }
}
