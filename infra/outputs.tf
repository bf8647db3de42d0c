output "bucket" {
  value = google_storage_bucket.pipeline.name
}

output "image" {
  description = "Image name for `make image IMAGE=...` and vertex.image."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}/simclr-tfx:latest"
}

output "tpu_image" {
  description = "The TPU trainer image (the Dockerfile's tpu target): `make image TPU_IMAGE=...` and vertex.trainer.image."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}/simclr-tfx-tpu:latest"
}

output "service_account" {
  value = google_service_account.pipeline.email
}

output "tensorboard" {
  value = google_vertex_ai_tensorboard.pretraining.id
}

# Paste into your copy of pipeline/configs/vertex.yaml.
output "vertex_yaml" {
  value = <<-EOT
    data: gs://${google_storage_bucket.pipeline.name}/data
    registry:
      kind: vertex
      project: ${var.project}
      region: ${var.region}
    vertex:
      project: ${var.project}
      region: ${var.region}
      pipeline_root: gs://${google_storage_bucket.pipeline.name}/pipeline-root
      image: ${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}/simclr-tfx:latest
      service_account: ${google_service_account.pipeline.email}
      tensorboard: ${google_vertex_ai_tensorboard.pretraining.id}
      dataflow:
        temp_location: gs://${google_storage_bucket.pipeline.name}/dataflow-tmp
      trainer:
        preset: tpu
        image: ${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}/simclr-tfx-tpu:latest
  EOT
}
