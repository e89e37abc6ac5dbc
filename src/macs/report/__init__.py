"""macs.report"""
